"""`StreamMeter`: meters a streamed response chunk by chunk while it passes through."""

from __future__ import annotations

import json
import logging
import re
from decimal import Decimal

from aispendtrack.meter.decode import Decoder, DecodeError, Encoder
from aispendtrack.meter.jsonscan import JSONScanner
from aispendtrack.meter.sse import Event, SSEParser
from aispendtrack.meter.state import Accumulator
from aispendtrack.meter.types import Metered

log = logging.getLogger(__name__)

MAX_EVENT = 4 * 1024 * 1024  # one SSE event / array element; real ones are a few KB
MAX_DECODED = 512 * 1024 * 1024  # whole stream after content decoding (bomb guard)
_STRIP_APIS = frozenset({"chat", "completions"})
_SKIP_ANTHROPIC = frozenset({"content_block_delta", "content_block_start", "content_block_stop", "ping"})
# chat chunks worth a JSON parse once the model is known (usage object, or a finish_reason)
_CHAT_INTERESTING = re.compile(rb'"usage"\s*:\s*\{|"finish_reason"\s*:\s*"')
_SKIP_RESPONSES_PREFIX = ("response.output_", "response.content_part", "response.reasoning", "response.function_")


def loads(data: bytes) -> object:
    # Decimal keeps OpenRouter's cost exact
    return json.loads(data, parse_float=Decimal)


class StreamMeter:
    """Observer of one streamed response (SSE, or a JSON array when `sse=False`).

    `feed` never raises: on an internal problem it records `error`, stops parsing and
    passes the bytes through unchanged.
    """

    def __init__(
        self,
        provider: str | None,
        api: str,
        *,
        content_encoding: str | None = None,
        strip_usage_chunk: bool = False,
        sse: bool = True,
    ) -> None:
        self._acc = Accumulator(provider, api)
        self._error: str | None = None
        self._parsing = True
        self._ended = False
        self._sse = SSEParser(MAX_EVENT) if sse else None
        self._json = None if sse else JSONScanner(MAX_EVENT)
        self._strip = strip_usage_chunk and sse and api in _STRIP_APIS
        self._chat = api in _STRIP_APIS
        self._encoder: Encoder | None = None
        # strip mode state: decoded bytes since the last event boundary, at stream offset _base
        self._hold = bytearray()
        self._base = 0
        self._out: list[bytes] = []
        self._dropped_last = False
        self._decoder: Decoder | None = None
        try:
            self._decoder = Decoder(content_encoding, self._on_decoded, MAX_DECODED)
        except DecodeError as e:
            self._fail(str(e))
            self._strip = False
        self._identity = self._decoder is not None and self._decoder.encoding == "identity"

    # -- public -------------------------------------------------------------------

    def feed(self, chunk: bytes) -> bytes:
        """Meter `chunk` (b"" = end of stream); returns the bytes to forward."""
        try:
            if self._strip:
                return self._feed_strip(chunk)
            if self._parsing and not self._ended:
                self._consume(chunk)
        except Exception as e:  # never break the connection
            self._fail(f"internal error: {type(e).__name__}: {e}")
        return chunk

    @property
    def terminal(self) -> bool:
        """The stream's terminal event ([DONE], message_stop, response.completed, …) was seen."""
        return self._acc.terminal

    def result(self) -> Metered:
        try:
            m = self._acc.result(streamed=True)
        except Exception as e:
            m = Metered(partial=True, error=f"internal error: {type(e).__name__}")
        m.error = m.error or self._error
        return m

    # -- parsing ------------------------------------------------------------------

    def _fail(self, msg: str) -> None:
        if self._error is None:
            self._error = msg[:200]
        self._parsing = False

    def _consume(self, chunk: bytes) -> None:
        """Decode and parse, stopping parsing (not forwarding) on any problem."""
        assert self._decoder is not None
        try:
            if chunk:
                self._decoder.feed(chunk)
                return
            self._ended = True
            if self._sse is not None:
                ev = self._sse.finish()
                if ev is not None:
                    self._event(ev)
        except DecodeError as e:
            self._fail(str(e))
        except Exception as e:
            self._fail(f"{type(e).__name__}: {e}")

    def _on_decoded(self, data: bytes) -> None:
        if not self._parsing:
            if self._strip:
                self._out.append(data)  # transcoding continues without parsing
            return
        if self._sse is not None:
            lf_pending = self._sse.lf_pending
            events = self._sse.feed(data)
            if self._strip:
                if lf_pending and data[:1] == b"\n" and not self._hold:
                    # the "\n" of a "\r\n" that ended the previous event belongs to it
                    if not self._dropped_last:
                        self._out.append(b"\n")
                    self._hold += memoryview(data)[1:]
                    self._base += 1
                else:
                    self._hold += data
            for ev in events:
                drop = self._event(ev)
                if self._strip:
                    cut = ev.end - self._base
                    if not drop:
                        self._out.append(bytes(self._hold[:cut]))
                    del self._hold[:cut]
                    self._base = ev.end
                    self._dropped_last = drop
        else:
            assert self._json is not None
            for elem in self._json.feed(data):
                self._obj(elem)
            if self._json.closed:
                self._acc.terminal = True

    def _event(self, ev: Event) -> bool:
        """Account one SSE event; True if it is the usage-only chunk to strip."""
        data = ev.data
        if data is None:
            return False
        if ev.name in _SKIP_ANTHROPIC or (ev.name or "").startswith(_SKIP_RESPONSES_PREFIX):
            return False  # the bulk of the stream carries no usage: skip the JSON parse
        stripped = data.strip()
        if stripped == b"[DONE]":
            self._acc.done()
            return False
        if self._chat and self._acc.model is not None and not _CHAT_INTERESTING.search(stripped):
            return False  # a content delta: nothing to meter in it
        return self._obj(stripped)

    def _obj(self, data: bytes) -> bool:
        try:
            obj = loads(data)
        except ValueError as e:
            if self._error is None:
                self._error = f"malformed JSON event skipped: {str(e)[:80]}"
            return False
        return self._acc.feed(obj) and self._strip

    # -- strip_usage_chunk ----------------------------------------------------------

    def _feed_strip(self, chunk: bytes) -> bytes:
        """Forward complete events only, minus the usage-only chunk."""
        if self._decoder is None:
            return chunk
        if not self._identity and self._encoder is None and self._parsing:
            if self._decoder.encoding == "deflate" and self._decoder.zlib_raw is None:
                self._decoder.feed(chunk)  # learn the deflate framing first (needs 2 bytes)
                if self._decoder.zlib_raw is None:
                    return b""
                self._encoder = Encoder("deflate", self._decoder.zlib_raw)
                return self._emit()
            self._encoder = Encoder(self._decoder.encoding, self._decoder.zlib_raw)
        if not self._identity and self._encoder is None:
            return chunk  # decoding failed before any output: nothing to transcode
        try:
            if chunk:
                self._decoder.feed(chunk)
            else:
                self._ended = True
                if self._parsing and self._sse is not None:
                    ev = self._sse.finish()
                    if ev is not None:
                        self._event(ev)
                # an unterminated last event goes out as it came
                self._out.append(bytes(self._hold))
                self._hold.clear()
        except DecodeError as e:
            self._give_up(str(e))
            if not self._identity:
                # the encoded stream is broken: send what is decodable, then raw bytes
                return self._emit() + chunk
        except Exception as e:
            self._give_up(f"{type(e).__name__}: {e}")
        return self._emit(chunk)

    def _give_up(self, msg: str) -> None:
        self._fail(msg)
        self._out.append(bytes(self._hold))  # release what was held, unchanged
        self._hold.clear()

    def _emit(self, chunk: bytes | None = None) -> bytes:
        out = self._out
        if self._identity:
            if chunk is not None and len(out) == 1 and out[0] == chunk and not self._hold:
                out.clear()
                return chunk  # nothing held, nothing dropped: zero copy
            data = b"".join(out)
            out.clear()
            return data
        data = b"".join(out)
        out.clear()
        enc = self._encoder
        if enc is None:
            return data
        res = enc.encode(data) if data else b""
        if self._ended:
            res += enc.finish()
            self._encoder = None
        return res
