"""Incremental `text/event-stream` parser (WHATWG rules) over bytes.

Works on bytes and decodes only whole events, so a chunk may end anywhere: inside a
multibyte character, inside `\\r\\n`, inside a field name.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


class EventTooLarge(Exception):
    pass


class Event(NamedTuple):
    name: str | None  # `event:` field, None when absent
    data: bytes | None  # data lines joined by "\n"; None for a block without data (comments only)
    end: int  # stream offset just after the blank line that ended the event


class SSEParser:
    def __init__(self, max_event: int) -> None:
        self.max_event = max_event
        self.pos = 0  # stream offset of the next byte fed
        self._line = bytearray()  # incomplete line
        self._data: list[bytes] = []
        self._size = 0
        self._name: bytes | None = None
        self._skip_lf = False  # last chunk ended in "\r": a leading "\n" belongs to it
        self._first = True

    @property
    def lf_pending(self) -> bool:
        return self._skip_lf

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        n = len(chunk)
        i = 0
        if self._skip_lf and n:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                i = 1
        base = self.pos
        for m in _EOL.finditer(chunk, i):
            j, nxt = m.span()
            if self._line:
                self._line += chunk[i:j]
                line = bytes(self._line)
                self._line.clear()
            else:
                line = chunk[i:j]
            if nxt == n and chunk[j] == 0x0D:
                self._skip_lf = True
            i = nxt
            ev = self._take(line, base + nxt)
            if ev is not None:
                events.append(ev)
        if i < n:
            self._line += chunk[i:]
            if len(self._line) + self._size > self.max_event:
                raise EventTooLarge(f"SSE event exceeds {self.max_event} bytes")
        self.pos = base + n
        return events

    def finish(self) -> Event | None:
        """End of stream: an unterminated last event is kept (lenient, for metering)."""
        if self._line:
            line = bytes(self._line)
            self._line.clear()
            self._take(line, self.pos)
        return self._take(b"", self.pos) if self._data else None

    def _take(self, line: bytes, end: int) -> Event | None:
        if self._first:
            self._first = False
            if line.startswith(_BOM):
                line = line[3:]
        if not line:
            data = b"\n".join(self._data) if self._data else None
            name = self._name.decode("utf-8", "replace") if self._name is not None else None
            self._data.clear()
            self._size = 0
            self._name = None
            return Event(name, data, end)
        if line[0] == 0x3A:  # ":" comment, e.g. OpenRouter's ": OPENROUTER PROCESSING"
            return None
        field, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._size += len(value) + 1
            if self._size > self.max_event:
                raise EventTooLarge(f"SSE event exceeds {self.max_event} bytes")
            self._data.append(value)
        elif field == b"event":
            self._name = value
        return None
