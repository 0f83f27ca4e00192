"""One clock for every gateway on a shared store: the skew between this machine's clock and
the database server's, measured and bounded.

A gateway decides hourly windows, months and budget periods with its own clock (the
`now` of an `Admission`). On SQLite every process reads the same machine's clock. On
PostgreSQL the gateways run on different machines, so each one measures how far its clock
is from the database server's — `clock_timestamp()` read between two readings of this
machine's clock, the sample with the shortest round trip of a few kept — at start (it
refuses to start above `[database] max_clock_skew_ms`) and every minute while it runs
(above the bound it answers 503 until the clocks agree again). Any two running gateways'
clocks then differ by at most twice the bound. The measurement always uses the real clock
(`time.time`), never the limiter's testing offset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from aispendtrack.store.records import StoreError

log = logging.getLogger(__name__)

DEFAULT_MAX_SKEW_MS = 500
CHECK_SECONDS = 60.0
SAMPLES = 5


@dataclass(frozen=True, slots=True)
class Skew:
    """The database server's clock minus this machine's, in ms (positive: this machine is
    behind), and the round trip of the sample it was measured with (the offset is exact
    to within half of it)."""

    offset_ms: float
    round_trip_ms: float

    def exceeds(self, bound_ms: float) -> bool:
        return abs(self.offset_ms) > bound_ms

    def describe(self) -> str:
        side = "behind" if self.offset_ms > 0 else "ahead of"
        return (f"this machine's clock is {abs(self.offset_ms) / 1000:.3f} s {side} the database server's "
                f"(±{self.round_trip_ms / 2:.1f} ms)")


class ClockSkewError(StoreError):
    """This machine's clock is too far from the database server's to decide limits with it."""


def measure(server_now: Callable[[], float], *, now: Callable[[], float] = time.time, samples: int = SAMPLES) -> Skew:
    """The skew from `samples` round trips to `server_now` (epoch seconds): the one with the
    shortest round trip, whose midpoint is closest to when the server read its clock."""
    best: Skew | None = None
    for _ in range(samples):
        before = now()
        server = server_now()
        after = now()
        skew = Skew((server - (before + after) / 2) * 1000, (after - before) * 1000)
        if best is None or skew.round_trip_ms < best.round_trip_ms:
            best = skew
    assert best is not None
    return best


def refusal(skew: Skew | None, bound_ms: float) -> str | None:
    """Why decisions cannot be made with this machine's clock, or None."""
    if skew is None or not skew.exceeds(bound_ms):
        return None
    return (f"{skew.describe()}, more than [database] max_clock_skew_ms = {bound_ms:g}: "
            "synchronise the clocks (NTP) of this machine and the database server")


def check(store, bound_ms: float) -> Skew | None:
    """The store's skew (None: one machine's clock, nothing to measure); raises
    `ClockSkewError` above `bound_ms`."""
    skew = store.clock_skew()
    if (why := refusal(skew, bound_ms)) is not None:
        raise ClockSkewError(why)
    return skew


class ClockWatch:
    """Measures the skew every `every` seconds on a thread of its own and tells `health`
    (source "clock"): the proxy answers 503 while it is above the bound. A measurement
    that fails (the database unreachable) changes nothing: the writer reports that."""

    def __init__(self, store, health, bound_ms: float, *, every: float = CHECK_SECONDS,
                 now: Callable[[], float] = time.time):
        self.store, self.health, self.bound_ms, self.every, self.now = store, health, bound_ms, every, now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aispendtrack-clock", daemon=True)

    def start(self) -> ClockWatch:
        self._thread.start()
        return self

    def check_once(self) -> Skew | None:
        try:
            skew = self.store.clock_skew(now=self.now)
        except Exception as e:
            log.debug("clock skew not measured: %s", e)
            return None
        self.health.report("clock", refusal(skew, self.bound_ms))
        return skew

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.check_once()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
