"""One keep-alive HTTP/1.1 client connection with an incremental response parser.

Raw sockets instead of an HTTP library: the load generator must cost as little CPU as
possible, since it shares the machine with the proxy it measures. The parser handles
content-length and chunked framing and keeps only the body's last bytes (enough to see
an SSE stream's ``data: [DONE]``), so memory stays flat however long the run.
"""

from __future__ import annotations

import asyncio
import socket
import time

perf = time.perf_counter
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class ProtocolError(Exception):
    pass


class Conn(asyncio.Protocol):
    """One keep-alive connection; one request at a time; incremental response parser."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self.state = "head"
        self.status = 0
        self.length = -1  # content-length, or -1 for chunked
        self.chunk_left = 0  # chunked: bytes of the current chunk still to come (+2 for CRLF)
        self.close_after = False
        self.t_first_body = 0.0
        self.body_tail = bytearray()  # last bytes of the decoded body (to check the stream end)
        self.body_len = 0

    # asyncio.Protocol
    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ProtocolError(f"connection lost: {exc or 'closed by peer'}"))

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.closed = True  # unsolicited bytes: this connection is no longer usable
            if self.transport:
                self.transport.close()
            return
        self.buf += data
        try:
            self._parse()
        except Exception as e:
            self.waiter.set_exception(ProtocolError(str(e)))
            self.closed = True
            if self.transport:
                self.transport.close()

    def _body(self, piece: bytes | bytearray) -> None:
        if piece:
            if not self.t_first_body:
                self.t_first_body = perf()
            self.body_len += len(piece)
            if self.body_len > MAX_BODY:
                raise ProtocolError("body too large")
            self.body_tail += piece
            if len(self.body_tail) > 64:
                del self.body_tail[:-64]

    def _take(self, want: int) -> int:
        """Consume up to `want` buffered body bytes; how many are still to come."""
        take = min(want, len(self.buf))
        self._body(self.buf[:take])
        del self.buf[:take]
        return want - take

    def _parse(self) -> None:
        buf = self.buf
        while True:
            if self.state == "head":
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise ProtocolError("response head too large")
                    return
                head = bytes(buf[:end]).decode("latin-1").split("\r\n")
                del buf[: end + 4]
                parts = head[0].split(" ", 2)
                self.status = int(parts[1])
                chunked = False
                for line in head[1:]:
                    k, _, v = line.partition(":")
                    k = k.strip().lower()
                    if k == "content-length":
                        self.length = int(v)
                    elif k == "transfer-encoding" and "chunked" in v.lower():
                        chunked = True
                    elif k == "connection" and "close" in v.lower():
                        self.close_after = True
                if 100 <= self.status < 200:
                    self._reset()
                    continue
                if chunked:
                    self.length = -1
                    self.state = "chunk-size"
                elif self.length >= 0:
                    self.state = "body"
                else:
                    raise ProtocolError("response without content-length or chunked framing")
            elif self.state == "body":
                self.length = self._take(self.length)
                if self.length == 0:
                    return self._done()
                return
            elif self.state == "chunk-size":
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(buf[:end]).split(b";")[0], 16)
                del buf[: end + 2]
                if size == 0:
                    self.state = "trailers"
                else:
                    self.chunk_left = size
                    self.state = "chunk-data"
            elif self.state == "chunk-data":
                self.chunk_left = self._take(self.chunk_left)
                if self.chunk_left:
                    return
                self.state = "chunk-crlf"
            elif self.state == "chunk-crlf":
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise ProtocolError("bad chunk framing")
                del buf[:2]
                self.state = "chunk-size"
            elif self.state == "trailers":
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                del buf[: end + 2]
                if end == 0:
                    return self._done()

    def _done(self) -> None:
        result = (self.status, self.t_first_body, bytes(self.body_tail), self.close_after)
        leftover = len(self.buf)
        self._reset()
        assert self.waiter is not None
        if leftover:
            self.waiter.set_exception(ProtocolError("bytes after the response"))
            self.closed = True
            return
        self.waiter.set_result(result)

    async def request(self, data: bytes) -> tuple[int, float, bytes, bool]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter
