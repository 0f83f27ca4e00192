"""A slow, obviously-correct model of the limit rules, for property tests.

Exact real arithmetic (Fraction) everywhere; no shared code with the implementation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction as F


def month_of(t) -> str:
    d = datetime.fromtimestamp(math.floor(t), UTC)
    return f"{d.year:04d}-{d.month:02d}"


def next_month_epoch(t) -> int:
    d = datetime.fromtimestamp(math.floor(t), UTC)
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return int(datetime(y, m, 1, tzinfo=UTC).timestamp())


@dataclass
class Model:
    hourly: int | None
    monthly: int | None
    events: list = field(default_factory=list)  # admitted times
    months: dict = field(default_factory=dict)

    def in_hour(self, t) -> int:
        """Events counting at time t: admitted at e with e <= ... and e + 3600 > t."""
        return sum(1 for e in self.events if F(e) + 3600 > F(t))

    def hourly_ok(self, t) -> bool:
        return self.hourly is None or self.in_hour(t) < self.hourly

    def monthly_ok(self, t) -> bool:
        return self.monthly is None or self.months.get(month_of(t), 0) < self.monthly

    def ok(self, t) -> bool:
        return self.hourly_ok(t) and self.monthly_ok(t)

    def request(self, t):
        """-> (admitted, which, retry_after, should_retry) and records an admission."""
        h, m = self.hourly_ok(t), self.monthly_ok(t)
        if h and m:
            self.events.append(t)
            self.months[month_of(t)] = self.months.get(month_of(t), 0) + 1
            return True, None, None, None
        which = "hourly" if m else "monthly"
        if (not h and self.hourly == 0) or (not m and self.monthly == 0):
            return False, which, None, False
        # Smallest whole k >= 1 with the request admitted at exactly t + k (real time).
        # Admission at t + k only changes when an event expires: try k = 1 and every
        # whole second at or after an expiry, smallest first.
        candidates = sorted({1} | {max(1, math.ceil(F(e) + 3600 - F(t))) for e in self.events})
        k_h = next(k for k in candidates if self.hourly_ok(F(t) + k))
        k_m = 1 if m else max(1, math.ceil(F(next_month_epoch(t)) - F(t)))
        k = max(k_h, k_m)
        assert self.ok(F(t) + k) and (k == 1 or not self.ok(F(t) + k - 1))
        return False, which, k, which == "hourly"
