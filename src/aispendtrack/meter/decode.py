"""Incremental content decoding (and re-encoding) with a cap on decoded bytes."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import brotli
import zstandard

PIECE = 64 * 1024  # decoded bytes handed to the sink at a time: bounds memory per call


class DecodeError(Exception):
    pass


class DecodeLimit(DecodeError):
    pass


def normalize(encoding: str | None) -> str:
    enc = (encoding or "").strip().lower()
    return "identity" if enc in ("", "identity") else ("gzip" if enc == "x-gzip" else enc)


SUPPORTED = frozenset({"identity", "gzip", "deflate", "br", "zstd"})


class Decoder:
    """Push model: `feed(chunk)` hands decoded pieces of at most PIECE bytes to `sink`.

    Never buffers the stream; `limit` caps the total decoded bytes (decompression bombs).
    """

    def __init__(self, encoding: str | None, sink: Callable[[bytes], None], limit: int) -> None:
        self.encoding = normalize(encoding)
        if self.encoding not in SUPPORTED:
            raise DecodeError(f"unsupported content-encoding {encoding!r}")
        self.sink = sink
        self.limit = limit
        self.total = 0
        self.zlib_raw: bool | None = None  # deflate: raw or zlib-wrapped, known after 2 bytes
        self._head = b""
        self._z: zlib._Decompress | None = None
        self._br = brotli.Decompressor() if self.encoding == "br" else None
        self._zs = None
        if self.encoding == "gzip":
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "zstd":
            self._zs = zstandard.ZstdDecompressor().stream_writer(self, write_size=PIECE)

    def write(self, data: bytes) -> int:  # zstandard's stream_writer output target
        self._emit(bytes(data))
        return len(data)

    def _emit(self, out: bytes) -> None:
        if out:
            self.total += len(out)
            if self.total > self.limit:
                raise DecodeLimit(f"decoded body exceeds {self.limit} bytes")
            self.sink(out)

    def feed(self, chunk: bytes) -> None:
        try:
            self._feed(chunk)
        except DecodeError:
            raise
        except (zlib.error, brotli.error, zstandard.ZstdError) as e:
            raise DecodeError(f"{self.encoding} decoding failed: {e}") from None

    def _feed(self, chunk: bytes) -> None:
        enc = self.encoding
        if enc == "identity":
            self._emit(chunk)
        elif enc == "br":
            assert self._br is not None
            self._emit(self._br.process(chunk, output_buffer_limit=PIECE))
            while not self._br.can_accept_more_data():
                self._emit(self._br.process(b"", output_buffer_limit=PIECE))
        elif enc == "zstd":
            if chunk:
                self._zs.write(chunk)
        else:
            if self._z is None:  # deflate: RFC says zlib-wrapped, some servers send raw
                self._head += chunk
                if len(self._head) < 2:
                    return
                b0, b1 = self._head[0], self._head[1]
                self.zlib_raw = not (b0 & 0x0F == 8 and (b0 << 8 | b1) % 31 == 0)
                self._z = zlib.decompressobj(-zlib.MAX_WBITS if self.zlib_raw else zlib.MAX_WBITS)
                chunk, self._head = self._head, b""
            self._zlib(chunk)

    def _zlib(self, data: bytes) -> None:
        while True:
            z = self._z
            out = z.decompress(data, PIECE)
            self._emit(out)
            data = z.unconsumed_tail
            if z.eof and z.unused_data and self.encoding == "gzip":
                # concatenated gzip members are one valid gzip stream
                data = z.unused_data
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                continue
            if not data and len(out) < PIECE:
                return


class Encoder:
    """Re-encodes modified output of a content-encoded stream (strip_usage_chunk)."""

    def __init__(self, encoding: str, zlib_raw: bool | None = None) -> None:
        self.encoding = encoding
        if encoding == "gzip":
            self._c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS if zlib_raw else zlib.MAX_WBITS)
        elif encoding == "br":
            self._c = brotli.Compressor(quality=5)  # the default (11) costs ~20 ms/MB
        elif encoding == "zstd":
            self._c = zstandard.ZstdCompressor().compressobj()
        else:
            raise DecodeError(f"cannot encode {encoding!r}")

    def encode(self, data: bytes) -> bytes:
        """Encode and flush so the client can decode everything sent so far."""
        return self.compress(data) + self.flush()

    def compress(self, data: bytes) -> bytes:
        """Encode without flushing (bounded memory while transcoding a large piece)."""
        return self._c.process(data) if self.encoding == "br" else self._c.compress(data)

    def flush(self) -> bytes:
        c = self._c
        if self.encoding == "br":
            return c.flush()
        if self.encoding == "zstd":
            return c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        return c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        c = self._c
        if self.encoding == "br":
            return c.finish()
        if self.encoding == "zstd":
            return c.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
        return c.flush(zlib.Z_FINISH)
