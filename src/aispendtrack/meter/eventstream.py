"""Incremental parser of AWS event-stream framing (`application/vnd.amazon.eventstream`).

Amazon Bedrock's ConverseStream and InvokeModelWithResponseStream answer in binary frames:

    total length (uint32 BE) | headers length (uint32 BE) | prelude CRC32 (of the 8 bytes before)
    headers | payload | message CRC32 (of everything before it)

A header is: name length (1 byte), name (UTF-8), value type (1 byte), value — 0/1 true/false,
2 byte, 3 short, 4 int, 5 long, 6 bytes (2-byte length), 7 string (2-byte length), 8 timestamp
(int64 ms), 9 UUID (16 bytes). Pure: bytes in, `Message`s out; a chunk may end anywhere.

Both CRCs are checked. A frame that fails a check, claims impossible lengths or carries
a malformed header raises `FrameError`, and the parser stays failed: nothing after a bad
frame can be trusted to be a frame boundary, so it is never guessed at.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

PRELUDE = 12  # total length, headers length, prelude CRC
MIN_MESSAGE = PRELUDE + 4  # no headers, no payload, message CRC
MAX_HEADERS = 128 * 1024  # what AWS's own decoders accept
MAX_MESSAGE = 16 * 1024 * 1024 + MAX_HEADERS + MIN_MESSAGE
CONTENT_TYPE = "application/vnd.amazon.eventstream"

_U32x3 = struct.Struct(">III")
# fixed-size header values, compiled once: parse_headers runs for every frame of a stream
_FIXED = {kind: struct.Struct(fmt) for kind, fmt in {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}.items()}
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class FrameError(ValueError):
    """The bytes are not a valid event stream (bad CRC, impossible length, bad header)."""


@dataclass(frozen=True, slots=True)
class Message:
    headers: dict[str, object]
    payload: bytes

    @property
    def event_type(self) -> str | None:
        v = self.headers.get(":event-type")
        return v if isinstance(v, str) else None

    @property
    def message_type(self) -> str | None:
        v = self.headers.get(":message-type")
        return v if isinstance(v, str) else None


def parse_headers(data: bytes) -> dict[str, object]:
    """The headers block of one frame; raises FrameError."""
    out: dict[str, object] = {}
    i, n = 0, len(data)
    try:
        while i < n:
            size = data[i]
            name = data[i + 1:i + 1 + size].decode()
            i += 1 + size
            kind = data[i]
            i += 1
            value: object
            if kind in (0, 1):
                value = kind == 0
            elif kind in _FIXED:
                fixed = _FIXED[kind]
                value = fixed.unpack_from(data, i)[0]
                i += fixed.size
            elif kind in (6, 7):
                (length,) = _U16.unpack_from(data, i)
                raw = data[i + 2:i + 2 + length]
                if len(raw) != length:
                    raise FrameError("event-stream header value runs past its frame")
                value = raw.decode() if kind == 7 else bytes(raw)
                i += 2 + length
            elif kind == 9:
                value = bytes(data[i:i + 16])
                i += 16
            else:
                raise FrameError(f"event-stream header {name!r} has unknown value type {kind}")
            if i > n or not name:
                raise FrameError("event-stream header runs past its frame")
            out[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as e:
        raise FrameError(f"malformed event-stream header: {e}") from None
    return out


class EventStreamParser:
    """Frames in, `Message`s out. `items` counts messages handed out (work bound)."""

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self.max_message = max_message
        self.items = 0
        self._buf = bytearray()
        self.failed: str | None = None

    def feed(self, data: bytes) -> list[Message]:
        """The messages completed by `data`; raises FrameError (then and on every later call)."""
        if self.failed is not None:
            raise FrameError(self.failed)
        buf = self._buf
        buf += data
        out: list[Message] = []
        pos = 0
        try:
            while len(buf) - pos >= PRELUDE:
                total, hlen, crc = _U32x3.unpack_from(buf, pos)
                if zlib.crc32(buf[pos:pos + 8]) != crc:
                    raise FrameError("event-stream prelude CRC mismatch")
                if total < MIN_MESSAGE or total > self.max_message or hlen > min(MAX_HEADERS, total - MIN_MESSAGE):
                    raise FrameError(f"event-stream frame with impossible lengths (total {total}, headers {hlen})")
                if len(buf) - pos < total:
                    break
                frame = bytes(buf[pos:pos + total])  # a copy: buf stays resizable whatever raises
                (msg_crc,) = _U32.unpack_from(frame, total - 4)
                if zlib.crc32(memoryview(frame)[:total - 4]) != msg_crc:  # no second copy of the frame
                    raise FrameError("event-stream message CRC mismatch")
                out.append(Message(parse_headers(frame[PRELUDE:PRELUDE + hlen]), frame[PRELUDE + hlen:total - 4]))
                pos += total
        except FrameError as e:
            self.failed = str(e)
            buf.clear()
            self.items += len(out)
            e.messages = out  # type: ignore[attr-defined]  # completed before the bad frame
            raise
        del buf[:pos]
        self.items += len(out)
        return out

    def finish(self) -> None:
        """End of stream: raises FrameError when it ended inside a frame."""
        if self.failed is None and self._buf:
            self.failed = f"event stream truncated: it ended {len(self._buf)} bytes into a frame"
            self._buf.clear()
        if self.failed is not None:
            raise FrameError(self.failed)


def encode_header(name: str, value: str) -> bytes:
    """A string header (type 7), the kind Bedrock sends."""
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One frame with string headers: for the fake provider and tests."""
    hdr = b"".join(encode_header(k, v) for k, v in headers.items())
    total = PRELUDE + len(hdr) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hdr))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + hdr + payload
    return body + struct.pack(">I", zlib.crc32(body))
