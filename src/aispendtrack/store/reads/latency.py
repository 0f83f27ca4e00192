"""Durations of the calls of a period, per group, for latency percentiles (`views.latency`).

The ledger keeps each call's total duration (`latency_ms`) and, for streams, its time to
the first byte (`ttfb_ms`); the daily sums keep neither, so these reads scan the period's
ledger rows (one indexed range of `ts`). Only calls answered by the provider count
(outcome `forwarded`): a refusal's or a failure's duration says nothing about the model.
Values come back sorted, so the percentile is the same Python function on both engines.
"""

from __future__ import annotations

from datetime import datetime
from collections.abc import Sequence
from typing import Any, NamedTuple

from aispendtrack.store.conn import Conn
from aispendtrack.store.ledger_schema import Outcome
from aispendtrack.store.reads.report import _DAY, DIMENSIONS, ledger_filters, tag_of


class Durations(NamedTuple):
    """One group's durations in ms, ascending: every answered call's total, and the time to
    the first byte of its streams. `group` as `report_groups` names it."""

    group: Any
    total: list[float]
    ttfb: list[float]


def _dims(conn: Conn, by: str) -> tuple[tuple[str, ...], str]:
    if by == "day":
        return (_DAY,), ""
    if by in DIMENSIONS:
        return DIMENSIONS[by]
    if (name := tag_of(by)) is not None:
        return (conn.dialect.json_field("calls.tags", name),), ""
    raise ValueError(f"unknown dimension {by!r}: one of {', '.join(DIMENSIONS)}, or tag:NAME")


def durations(conn: Conn, *, since: datetime | None = None, until: datetime | None = None,
              by: Sequence[str] = ("model",), account: str | None = None, key: str | None = None,
              member_id: int | None = None, tag: tuple[str, str] | None = None) -> dict[str, list[Durations]]:
    """The answered calls' durations in [since, until) grouped by each dimension of `by` (a
    `report` dimension or tag:NAME; one read of the rows for all of them): only `account`'s,
    only `key`'s (id or hint), only member `member_id`'s keys, only calls tagged `tag`."""
    parts = [_dims(conn, b) for b in by]
    dims = [d for ds, _ in parts for d in ds]
    joins = "".join(dict.fromkeys(j for _, j in parts))
    conds, params = ledger_filters(conn, since, until, account=account, key=key, member_id=member_id, tag=tag)
    conds, params = ["calls.outcome = ?", "calls.latency_ms IS NOT NULL", *conds], [Outcome.FORWARDED.value, *params]
    sql = (f"SELECT {', '.join(dims)}, calls.latency_ms, calls.ttfb_ms, calls.streamed FROM calls{joins}"
           f" WHERE {' AND '.join(conds)}")
    with conn.read():
        rows = conn.execute(sql, params).fetchall()
    out: dict[str, dict[Any, Durations]] = {b: {} for b in by}
    for row in rows:
        latency, ttfb, streamed = row[len(dims):]
        at = 0
        for b, (ds, _) in zip(by, parts):
            n = len(ds)
            group = tuple(row[at:at + n]) if n > 1 else row[at]
            at += n
            d = out[b].get(group)
            if d is None:
                d = out[b][group] = Durations(group, [], [])
            d.total.append(float(latency))
            if streamed and ttfb is not None:
                d.ttfb.append(float(ttfb))
    for groups in out.values():
        for d in groups.values():
            d.total.sort()
            d.ttfb.sort()
    return {b: list(groups.values()) for b, groups in out.items()}
