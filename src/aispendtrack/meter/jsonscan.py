"""Incremental splitter of a streamed JSON array (Gemini `:streamGenerateContent` without
`alt=sse`) into its elements; a top-level object counts as one element.

Cost: runs of opening or closing brackets are handled as one step and whole strings are
skipped by one regex match (in C), so Python work is per run/string, not per byte;
`items` counts the steps so the caller can bound the work per stream.
"""

from __future__ import annotations

import re

_STRUCT = re.compile(rb'["{}\[\]]')
_OPEN_RUN = re.compile(rb"[\[{]++")
_CLOSE_RUN = re.compile(rb"[\]}]++")
# inside a string: the next quote or backslash; from a backslash on, the rest of an
# escape-rich string in one possessive match (no per-escape Python work)
_IN_STRING = re.compile(rb'["\\]')
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+', re.S)


class ScanError(Exception):
    def __init__(self, msg: str, elements: list[bytes] | None = None) -> None:
        super().__init__(msg)
        self.elements: list[bytes] = elements or []  # complete elements before the error


class JSONScanner:
    """Bracket- and string-aware scanner; keeps only the bytes of the current element."""

    def __init__(self, max_element: int) -> None:
        self.max_element = max_element
        self.depth = 0
        self.closed = False  # a top-level array (or object) was closed
        self.items = 0  # steps handled in Python (bracket runs, strings)
        self._elem_depth = 1
        self._in_str = False
        self._esc = False
        self._collecting = False
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        out: list[bytes] = []
        try:
            self._feed(chunk, out)
        except ScanError as e:
            e.elements = out
            raise
        return out

    def _feed(self, chunk: bytes, out: list[bytes]) -> None:
        n = len(chunk)
        pos = 0
        start = 0  # where the current element starts in this chunk, when collecting
        steps = 0
        while pos < n:
            steps += 1
            if self._in_str:
                if self._esc:  # the previous chunk ended in a backslash: this byte is escaped
                    self._esc = False
                    pos += 1
                    continue
                m = _IN_STRING.search(chunk, pos)
                if m is None:
                    break
                pos = m.start()
                if chunk[pos] == 0x5C:  # escapes: skip the rest of the string in one match
                    pos = _STRING_REST.match(chunk, pos).end()
                if pos < n:
                    if chunk[pos] == 0x22:
                        self._in_str = False
                    else:
                        self._esc = True  # a backslash as the last byte
                    pos += 1
                continue
            m = _STRUCT.search(chunk, pos)
            if m is None:
                break
            p = m.start()
            c = chunk[p]
            pos = p + 1
            if c == 0x22:
                self._in_str = True
                continue
            if c == 0x7B or c == 0x5B:  # { [
                if pos < n and (chunk[pos] == 0x7B or chunk[pos] == 0x5B):
                    pos = _OPEN_RUN.match(chunk, pos).end()  # a run is one step
                k = pos - p
                if self.depth == 0:
                    self._elem_depth = 0 if c == 0x7B else 1
                d = self.depth
                if not self._collecting and d <= self._elem_depth < d + k:
                    self._collecting = True
                    start = p + (self._elem_depth - d)
                self.depth = d + k
            else:  # } ]
                if pos < n and (chunk[pos] == 0x7D or chunk[pos] == 0x5D):
                    pos = _CLOSE_RUN.match(chunk, pos).end()
                k = pos - p
                d = self.depth
                over = k > d
                if over:
                    k = d  # process up to depth 0, then fail
                self.depth = d - k
                if self._collecting and d - k <= self._elem_depth < d:
                    # the element closes at the bracket that brings depth back to _elem_depth
                    e = p + (d - self._elem_depth)
                    self._buf += chunk[start:e]
                    out.append(bytes(self._buf))
                    self._buf.clear()
                    self._collecting = False
                if k and self.depth == 0:
                    self.closed = True
                if over:
                    self.items += steps
                    raise ScanError("unbalanced JSON brackets")
        self.items += steps
        if self._collecting:
            self._buf += chunk[start:]
            if len(self._buf) > self.max_element:
                raise ScanError(f"JSON element exceeds {self.max_element} bytes")
