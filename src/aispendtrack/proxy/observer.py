"""The `flow.response.stream` callable: meter each chunk, forward it, guard the end.

SDKs stop reading a stream at its terminal event (`data: [DONE]`, `message_stop`), and
mitmproxy forwards stream bytes before the `response` hook runs. So from the terminal
event on, the observer holds the remaining bytes back until the upstream message ends
(`b""`), commits the flow's ledger row there, and only then lets them through: a client
that saw the end of a stream has its committed row, even if the proxy is killed a
moment later.

Naive clients hang up at the `finish_reason` chunk, just before the usage chunk that was
asked for (often by us). mitmproxy cannot read on from an upstream whose client has
gone, so when usage is expected the observer holds the stream back from `finish_reason`
until the usage arrives — at most HOLD_SECONDS (checked as chunks arrive) and HOLD_BYTES,
after which the stream goes on and `gave_up` tells the ledger row why usage may be missing.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable

from aispendtrack import meter

HOLD_SECONDS = 2.0
HOLD_BYTES = 256 * 1024


class StreamObserver:
    """Meters and forwards one streamed response; never raises (see `StreamMeter.feed`).

    mitmproxy turns an empty `bytes` chunk into an HTTP/1 chunked terminator, so "nothing
    to send" is returned as an empty list instead.
    """

    __slots__ = ("meter", "commit", "held", "pending", "expect_usage", "since", "gave_up")

    def __init__(
        self,
        stream_meter: meter.StreamMeter,
        commit: Callable[[], concurrent.futures.Future | None] | None = None,
        *,
        expect_usage: bool = False,
    ):
        self.meter = stream_meter
        self.commit = commit
        self.held: list[bytes] = []
        self.pending: concurrent.futures.Future | None = None  # the row committed at the end
        self.expect_usage = expect_usage  # a usage chunk was asked for
        self.since: float | None = None  # when holding back for the usage chunk began
        self.gave_up = False  # the usage chunk did not come within the hold budget

    @property
    def complete(self) -> bool:
        """The client has received the whole stream, usage included."""
        m = self.meter.result()
        return m.has_usage and not m.partial and not self.held

    def __call__(self, chunk: bytes):
        out = self.meter.feed(chunk)
        if self.commit is not None:
            if chunk:
                if self.held or self.meter.terminal or self._awaiting_usage():
                    self.held.append(out)
                    if self.meter.terminal or not self._over_budget():
                        return []
                    self.gave_up = True  # usage is late: let the stream go on
                    out = b"".join(self.held)
                    self.held.clear()
            elif self.held:
                self.pending = self.commit()
                out = b"".join(self.held) + out
                self.held.clear()
        return out if out else []

    def _awaiting_usage(self) -> bool:
        if not self.expect_usage or self.gave_up or not self.meter.awaiting_usage:
            return False
        if self.since is None:
            self.since = time.monotonic()
        return True

    def _over_budget(self) -> bool:
        return time.monotonic() - (self.since or 0) > HOLD_SECONDS or sum(map(len, self.held)) > HOLD_BYTES
