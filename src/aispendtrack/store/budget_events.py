"""`budget.threshold` webhook events: 80 % and 100 % of a budget's *settled* spend.

Settled spend (what the ledger billed), not reserved + settled: a hold is an upper bound
that is mostly given back, so counting it would alert on money never spent. `check` runs
in the ledger writer's transaction that settles the call (`budgets.settle`), so the event
commits exactly with the spend that reached the threshold. Each threshold is sent once per
budget and period (`outbox.once`, keyed by the period key and the limit): a new period, or
a changed limit, sends it again. A threshold already reached when the budget was set (or
while no endpoint listened: then it is spent, not sent late) is sent with the next call that
settles a cost.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from aispendtrack.limits import budget as rules
from aispendtrack.store import outbox
from aispendtrack.store.db import iso

THRESHOLDS = (80, 100)
_PERIOD_OF_KEY = {"d": "day", "w": "week", "m": "month", "t": "total"}


def check(conn, scope: str, subject: str, period_key: str, limit_nano: int | None, *,
          account: str, now: float | None = None) -> int:
    """Queue the thresholds the counter's settled spend has reached, once each; returns events."""
    if not limit_nano:  # no budget recorded with the hold, or a zero budget (refuses everything)
        return 0
    row = conn.execute(
        "SELECT spent_nano FROM budget_spend WHERE scope = ? AND subject = ? AND period_key = ?",
        (scope, subject, period_key),
    ).fetchone()
    if row is None or row[0] * 100 < limit_nano * THRESHOLDS[0]:
        return 0  # below every threshold: no further read
    now = time.time() if now is None else now
    period = _PERIOD_OF_KEY[period_key[0]]
    sent = 0
    for percent in THRESHOLDS:
        if row[0] * 100 >= limit_nano * percent and outbox.once(
                conn, f"{scope}:{subject}", f"budget.threshold.{percent}", f"{period_key}:{limit_nano}", now):
            outbox.emit(conn, account, "budget.threshold", {
                "account": account, "key_id": subject if scope == "key" else None, "scope": scope,
                "period": period, "period_start": _period_start(period_key),
                "budget_usd": str(rules.to_usd(limit_nano)), "spent_usd": str(rules.to_usd(row[0])),
                "threshold": percent}, now=now)
            sent += 1
    return sent


def _period_start(period_key: str) -> str | None:
    """Start of the period a counter belongs to (not necessarily the period of now: a call
    settles after its period may have ended); None for `total`."""
    kind, text = period_key[0], period_key[1:]
    if kind == "t":
        return None
    if kind == "w":
        year, week = text.split("-W")
        day = date.fromisocalendar(int(year), int(week), 1)
    else:
        day = date.fromisoformat(text + ("-01" if kind == "m" else ""))
    return iso(datetime(day.year, day.month, day.day, tzinfo=UTC))
