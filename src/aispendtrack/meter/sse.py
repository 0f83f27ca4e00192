"""Incremental `text/event-stream` parser (WHATWG rules) over bytes.

Works on bytes and decodes only whole events, so a chunk may end anywhere: inside a
multibyte character, inside `\\r\\n`, inside a field name.

Cost: lines that cannot contribute to an event (blank lines, `:` comments, `id`/`retry`/
unknown fields) are skipped in runs by one regex match, in C, when no event is pending.
Only `data`/`event` lines (and lines inside a pending event) cost Python work; `items`
counts them so the caller can bound the work per stream.

Memory: an event larger than `max_event` raises `EventTooLarge`, or with `cut=True` is
kept as its first HEAD and last `tail` bytes only (`Event.cut`): a multi-megabyte terminal
event still yields its usage, which providers put at its end, while memory stays flat.
`dropped` counts the bytes discarded that way.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"
# A run of complete lines that cannot start an event: anything but a `data` or `event`
# field (blank lines, comments, id, retry, unknown fields). Possessive: no backtracking.
# Any CR or LF ends a line here: with no event pending, the "\n" of a "\r\n" read as one
# more blank line changes nothing. CR/LF runs and comments get their own fast branches.
_NOOP_RUN = re.compile(rb"(?:[\r\n]++|:[^\r\n]*+[\r\n]|(?!(?:data|event)[:\r\n])[^\r\n]*+[\r\n])++")


class EventTooLarge(Exception):
    def __init__(self, msg: str, events: list[Event] | None = None) -> None:
        super().__init__(msg)
        self.events: list[Event] = events or []  # complete events parsed before the overflow


HEAD = 4096  # bytes kept from the start of a cut event (its type, id, model)


class Event(NamedTuple):
    name: str | None  # `event:` field, None when absent
    data: bytes | None  # data lines joined by "\n"
    end: int  # stream offset just after the blank line that ended the event
    start: int = 0  # stream offset of the event's first field line (comments skipped before it are not part of it)
    cut: bool = False  # larger than max_event: `data` is its first HEAD and last `tail` bytes


class SSEParser:
    def __init__(self, max_event: int, *, cut: bool = False) -> None:
        self.max_event = max_event
        self.cut = cut
        self.tail = max(max_event // 4, 1)  # bytes kept from the end of a cut event
        self.head = min(HEAD, max(max_event // 8, 1))
        self.dropped = 0  # bytes of cut events discarded
        self.pos = 0  # stream offset of the next byte fed
        self.items = 0  # lines handled in Python (the rest is skipped in C)
        self._line = bytearray()  # incomplete line
        self._line_start = 0
        self._data: list[bytes] = []
        self._size = 0
        self._name: bytes | None = None
        self._start: int | None = None  # offset of the pending event's first line
        self._skip_lf = False  # last chunk ended in "\r": a leading "\n" belongs to it
        self._first = True
        self._line_cut = False  # the pending line lost its middle
        self._cut = False  # the pending event lost its middle

    @property
    def lf_pending(self) -> bool:
        return self._skip_lf

    def feed(self, chunk: bytes) -> list[Event]:
        """Events completed by `chunk`. Raises EventTooLarge (carrying the events completed
        before the overflow) when one event exceeds `max_event`."""
        events: list[Event] = []
        n = len(chunk)
        i = 0
        base = self.pos
        self.pos = base + n
        if self._skip_lf and n:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                i = 1
        line = self._line
        try:
            while i < n:
                if not line and self._start is None and not self._first:
                    m = _NOOP_RUN.match(chunk, i)
                    if m is not None:
                        i = m.end()
                        if i == n and chunk[i - 1] == 0x0D:
                            self._skip_lf = True
                        continue
                if self._line_cut and chunk.find(b"\n", i) == -1 and chunk.find(b"\r", i) == -1:
                    m = None  # inside a giant line: two memchr, not a regex scan of the chunk
                else:
                    m = _EOL.search(chunk, i)
                if m is None:
                    if not line:
                        self._line_start = base + i
                    line += chunk[i:]
                    if len(line) + self._size > self.max_event:
                        if not self.cut:
                            raise EventTooLarge(f"SSE event exceeds {self.max_event} bytes")
                        self._cut_line(line)
                    break
                j, nxt = m.span()
                if line:
                    line += chunk[i:j]
                    text = bytes(line)
                    line.clear()
                    start = self._line_start
                else:
                    text = chunk[i:j]
                    start = base + i
                if nxt == n and chunk[nxt - 1] == 0x0D:  # a lone "\r" at the end: maybe "\r\n"
                    self._skip_lf = True
                i = nxt
                self.items += 1
                ev = self._take(text, start, base + nxt)
                if ev is not None:
                    events.append(ev)
        except EventTooLarge as e:
            e.events = events
            raise
        return events

    def finish(self) -> Event | None:
        """End of stream: an unterminated last event is kept (lenient, for metering)."""
        if self._line:
            line = bytes(self._line)
            self._line.clear()
            self._take(line, self._line_start, self.pos)
        return self._take(b"", self.pos, self.pos) if self._data else None

    def _cut_line(self, line: bytearray) -> None:
        """Keep the head and tail of an overlong pending line (the head stays as it was)."""
        n = len(line)
        del line[self.head : n - self.tail]
        self.dropped += n - len(line)
        self._line_cut = True

    def _cut_data(self) -> None:
        joined = b"\n".join(self._data)
        self._data = [joined[: self.head], joined[-self.tail :]]
        self.dropped += len(joined) - self.head - self.tail
        self._size = self.head + self.tail + 2
        self._cut = True

    def _take(self, line: bytes, start: int, end: int) -> Event | None:
        line_cut, self._line_cut = self._line_cut, False
        if self._first:
            self._first = False
            if line.startswith(_BOM):
                line = line[3:]
        if not line:  # blank line: dispatch
            ev = None
            if self._data:
                name = self._name.decode("utf-8", "replace") if self._name is not None else None
                ev = Event(name, b"\n".join(self._data), end, self._start if self._start is not None else start,
                           self._cut)
                self._data.clear()
            self._size = 0
            self._name = None
            self._start = None
            self._cut = False
            return ev
        if line[0] == 0x3A:  # ":" comment, e.g. OpenRouter's ": OPENROUTER PROCESSING"
            return None
        field, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if field == b"data" or field == b"event":
            if self._start is None:
                self._start = start  # the event begins (lines before it are forwarded as they are)
        if field == b"data":
            self._size += len(value) + 1
            if self._size > self.max_event and not self.cut:
                raise EventTooLarge(f"SSE event exceeds {self.max_event} bytes")
            self._data.append(value)
            self._cut = self._cut or line_cut
            if self._size > self.max_event:
                self._cut_data()
        elif field == b"event":
            self._name = value
        return None
