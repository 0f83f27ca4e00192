"""Incremental NDJSON (`application/x-ndjson`, one JSON value per line) framing over bytes.

A chunk may end anywhere, inside a line or a multibyte character: only whole lines are
handed out. A line longer than `max_line` is dropped as it passes (memory stays flat) and
counted in `dropped` and `too_long`; `items` counts the lines handed out, so the caller can
bound the work per stream.
"""

from __future__ import annotations


class NDJSONParser:
    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.items = 0
        self.dropped = 0  # bytes of lines over max_line, never parsed
        self.too_long = 0  # lines dropped
        self._buf = bytearray()
        self._skipping = False  # inside a line over max_line

    def feed(self, data: bytes) -> list[bytes]:
        """The non-blank lines completed by `data` (without their line end)."""
        lines: list[bytes] = []
        start = 0
        while (nl := data.find(b"\n", start)) >= 0:
            piece = data[start:nl]
            start = nl + 1
            if self._skipping:
                self.dropped += len(piece)
                self._skipping = False
                continue
            if self._buf:
                self._buf += piece
                piece = bytes(self._buf)
                self._buf.clear()
            if len(piece) > self.max_line:
                self._drop(len(piece))
                self._skipping = False
            elif piece.strip():
                self.items += 1
                lines.append(piece)
        rest = data[start:]
        if self._skipping:
            self.dropped += len(rest)
        elif len(self._buf) + len(rest) > self.max_line:
            self._drop(len(self._buf) + len(rest))
            self._buf.clear()
        else:
            self._buf += rest
        return lines

    def finish(self) -> bytes | None:
        """The last line, when the stream ended without a line end."""
        line = bytes(self._buf)
        self._buf.clear()
        if self._skipping or not line.strip():
            return None
        self.items += 1
        return line

    def _drop(self, n: int) -> None:
        self.dropped += n
        self.too_long += 1
        self._skipping = True
