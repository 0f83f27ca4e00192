"""Incremental splitter of a streamed JSON array (Gemini `:streamGenerateContent` without
`alt=sse`) into its elements; a top-level object counts as one element."""

from __future__ import annotations

import re

_STRUCT = re.compile(rb'["{}\[\]]')
_IN_STRING = re.compile(rb'["\\]')


class ScanError(Exception):
    pass


class JSONScanner:
    """Bracket- and string-aware scanner; keeps only the bytes of the current element."""

    def __init__(self, max_element: int) -> None:
        self.max_element = max_element
        self.depth = 0
        self.closed = False  # a top-level array (or object) was closed
        self._elem_depth = 1
        self._in_str = False
        self._esc = False
        self._collecting = False
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        out: list[bytes] = []
        n = len(chunk)
        pos = 0
        start = 0  # where the current element starts in this chunk, when collecting
        if self._esc and n:
            self._esc = False
            pos = 1
        while pos < n:
            if self._in_str:
                m = _IN_STRING.search(chunk, pos)
                if m is None:
                    break
                p = m.start()
                if chunk[p] == 0x5C:  # backslash: the next byte is escaped, maybe in the next chunk
                    if p + 1 >= n:
                        self._esc = True
                    pos = p + 2
                else:
                    self._in_str = False
                    pos = p + 1
                continue
            m = _STRUCT.search(chunk, pos)
            if m is None:
                break
            p = m.start()
            c = chunk[p]
            pos = p + 1
            if c == 0x22:
                self._in_str = True
            elif c in (0x7B, 0x5B):  # { [
                if self.depth == 0:
                    self._elem_depth = 0 if c == 0x7B else 1
                if self.depth == self._elem_depth and not self._collecting:
                    self._collecting = True
                    start = p
                self.depth += 1
            else:  # } ]
                self.depth -= 1
                if self.depth < 0:
                    raise ScanError("unbalanced JSON brackets")
                if self._collecting and self.depth == self._elem_depth:
                    self._buf += chunk[start:pos]
                    out.append(bytes(self._buf))
                    self._buf.clear()
                    self._collecting = False
                if self.depth == 0:
                    self.closed = True
        if self._collecting:
            self._buf += chunk[start:]
            if len(self._buf) > self.max_element:
                raise ScanError(f"JSON element exceeds {self.max_element} bytes")
        return out
