"""Latency percentiles per group: p50/p95 of the total duration and of the time to the
first byte of streams, of the calls the provider answered (`store.latency_durations`).

One definition everywhere (`report`, `/v1/usage`, the dashboard): the **nearest rank**.
The p-th percentile of n ascending values is the value at rank ⌈p/100 · n⌉ (1-based): always
a duration some call really had, never an interpolation; what PostgreSQL's
`percentile_disc(p/100)` returns. Computed here, in Python, over the store's sorted values,
so both engines give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType

PERCENTILES = (50, 95)


def percentile(values: list[float], p: int) -> float | None:
    """The nearest-rank `p`-th percentile of ascending `values` (None for none)."""
    if not values:
        return None
    return values[max(1, math.ceil(p * len(values) / 100)) - 1]


@dataclass(frozen=True)
class Latency:
    """One group's percentiles in ms (None: no call to take them from)."""

    calls: int  # answered calls with a duration
    p50_ms: float | None
    p95_ms: float | None
    streams: int  # of them, streams with a time to first byte
    ttfb_p50_ms: float | None
    ttfb_p95_ms: float | None

    @classmethod
    def of(cls, total: list[float], ttfb: list[float]) -> Latency:
        return cls(len(total), percentile(total, 50), percentile(total, 95),
                   len(ttfb), percentile(ttfb, 50), percentile(ttfb, 95))

    def to_dict(self) -> dict:
        return {"calls": self.calls, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms,
                "streams": self.streams, "ttfb_p50_ms": self.ttfb_p50_ms, "ttfb_p95_ms": self.ttfb_p95_ms}


NONE = Latency.of([], [])


def latency_by(store, by: tuple[str, ...], *, since=None, until=None, account: str | None = None,
               key: str | None = None, member_id: int | None = None,
               tag: tuple[str, str] | None = None) -> dict[str, tuple[dict[Any, Latency], Latency]]:
    """For each dimension of `by` (one read of the period's rows): the per-group percentiles
    (groups keyed as `report_groups` keys them: a member is `(account, name)`) and those of
    all the calls together."""
    read = store.latency_durations(since=since, until=until, by=by, account=account, key=key,
                                   member_id=member_id, tag=tag)
    out = {}
    for b, parts in read.items():
        total = sorted(v for d in parts for v in d.total)
        ttfb = sorted(v for d in parts for v in d.ttfb)
        out[b] = {d.group: Latency.of(d.total, d.ttfb) for d in parts}, Latency.of(total, ttfb)
    return out


def latency_groups(store, *, by: str = "model", **filters) -> tuple[dict[Any, Latency], Latency]:
    """`latency_by` of one dimension."""
    return latency_by(store, (by,), **filters)[by]


def fmt_ms(value: float | None) -> str:
    """Milliseconds as the tables show them: `840 ms`, `2.31 s`; "—" for unknown."""
    if value is None:
        return "—"
    return f"{value:,.0f} ms" if value < 1000 else f"{value / 1000:,.2f} s"


def latency_table(rows: list[tuple[str, Latency]], dimension: str) -> RenderableType:
    """`report`'s latency table: one line per group (labels as `safe()` makes them)."""
    from rich.text import Text

    from aispendtrack.views.tables import fitted

    names = ["calls", "p50", "p95", "streams", "ttfb\np50", "ttfb\np95"]
    cells = [[Text.from_markup(label), f"{lat.calls:,}", fmt_ms(lat.p50_ms), fmt_ms(lat.p95_ms), f"{lat.streams:,}",
              fmt_ms(lat.ttfb_p50_ms), fmt_ms(lat.ttfb_p95_ms)] for label, lat in rows]
    return fitted([dimension, *names], cells, title=f"latency by {dimension} (answered calls; nearest-rank "
                  "percentiles)", right=set(names))
