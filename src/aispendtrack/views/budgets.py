"""Budgets as every view shows them (CLI lists, `/v1/me`): limit, spent, held, left, reset.

Amounts are exact decimal text in USD. ``overshoot_usd`` is what calls cost beyond the
bound they reserved (see `store.budgets`): shown, never hidden.
"""

from __future__ import annotations

import time

from aispendtrack.config import Config
from aispendtrack.limits import budget as rules
from aispendtrack.store import budgets as store


def _usd(nano: int) -> str:
    return format(rules.to_usd(nano), "f")


def effective(database, config: Config, scope: str, subject: str, tier: str | None = None) -> tuple[rules.Budget, str] | None:
    """The budget in force and where it comes from ("own" or "tier"); None without one."""
    b = store.get_budget(database, scope, subject)
    if b is not None:
        return b, "own"
    if scope == "account" and tier is not None and (t := config.tier(tier)).budget_usd is not None:
        return rules.Budget("account", subject, rules.to_nano(t.budget_usd), t.budget_period), "tier"
    return None


def budget_status(database, config: Config, scope: str, subject: str, tier: str | None = None,
                  now: float | None = None) -> dict | None:
    found = effective(database, config, scope, subject, tier)
    if found is None:
        return None
    b, source = found
    now = time.time() if now is None else now
    s = store.standing(database, b, now=now)
    return {
        "limit_usd": _usd(b.limit_nano),
        "period": b.period,
        "period_key": s.period_key[1:] or "total",
        "spent_usd": _usd(s.spent_nano),
        "reserved_usd": _usd(s.reserved_nano),
        "remaining_usd": _usd(s.remaining_nano),
        "overshoot_usd": _usd(s.overshoot_nano),
        "reset_seconds": rules.reset_seconds(b.period, now),
        "source": source,
    }


def fmt_budget(status: dict | None) -> str:
    """"$1.2 / $5 month (24%)" for a table cell; "—" without a budget."""
    if status is None:
        return "—"
    spent, limit = rules.parse_usd(status["spent_usd"]), rules.parse_usd(status["limit_usd"])
    pct = f" ({spent * 100 // limit}%)" if limit else ""
    text = f"${status['spent_usd']} / ${status['limit_usd']} {status['period']}{pct}"
    if status["overshoot_usd"] != "0":
        text += f" ⚠ ${status['overshoot_usd']} over bounds"
    return text
