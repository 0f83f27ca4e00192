"""The `flow.response.stream` callable: meter each chunk, forward it, guard the end.

SDKs stop reading a stream at its terminal event (`data: [DONE]`, `message_stop`), and
mitmproxy forwards stream bytes before the `response` hook runs. So from the terminal
event on, the observer holds the remaining bytes back until the upstream message ends
(`b""`), commits the flow's ledger row there, and only then lets them through: a client
that saw the end of a stream has its committed row, even if the proxy is killed a
moment later.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

from aispendtrack import meter


class StreamObserver:
    """Meters and forwards one streamed response; never raises (see `StreamMeter.feed`).

    mitmproxy turns an empty `bytes` chunk into an HTTP/1 chunked terminator, so "nothing
    to send" is returned as an empty list instead.
    """

    __slots__ = ("meter", "commit", "held", "pending")

    def __init__(
        self,
        stream_meter: meter.StreamMeter,
        commit: Callable[[], concurrent.futures.Future | None] | None = None,
    ):
        self.meter = stream_meter
        self.commit = commit
        self.held: list[bytes] = []
        self.pending: concurrent.futures.Future | None = None  # the row committed at the end

    @property
    def complete(self) -> bool:
        """The client has received the whole stream, usage included."""
        m = self.meter.result()
        return m.has_usage and not m.partial and not self.held

    def __call__(self, chunk: bytes):
        out = self.meter.feed(chunk)
        if self.commit is not None:
            if chunk:
                if self.held or self.meter.terminal:
                    self.held.append(out)
                    return []
            elif self.held:
                self.pending = self.commit()
                out = b"".join(self.held) + out
                self.held.clear()
        return out if out else []
