"""Reconciliation reports built directly (no fetcher, no provider): what the scheduler, the
store and the dashboard are tested with."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aispendtrack.reconcile.compare import totals
from aispendtrack.reconcile.model import Report, Row, Side

DAY = date(2026, 3, 4)
STRAY = Decimal("0.50")  # provider dollars attributed to no account


def report(provider: str = "openai", *, account: str | None = None, unexplained: str = "0.00",
           day: date = DAY, ran_at: str = "2026-03-05T01:02:03.000000Z", gap_of: str = "acme",
           names: tuple[str, ...] = ("acme", "beta")) -> Report:
    """A one-day report over `names` (only `account`'s rows when given): a row of each that
    matches, one of `gap_of`'s the gateway missed by `unexplained` dollars, and one
    unattributed provider row of $0.50."""
    gap = Decimal(unexplained)
    same = Side(input_tokens=1200, cached_tokens=300, output_tokens=450, requests=7, usd=Decimal("0.012345"))
    under = Side(input_tokens=10, output_tokens=5, requests=1, usd=Decimal("0.000100"))
    billed = Side(input_tokens=10, output_tokens=5, batch_tokens=5, requests=2, usd=under.usd + gap)
    rows = [Row(day, "gpt-4o-mini", same, same, "matches", account=name) for name in names]
    rows.append(Row(day, "gpt-4o", under, billed, "gateway under" if gap else "matches",
                    note="metering gap: 1 call unmetered that day", account=gap_of))
    rows = [r for r in rows if account is None or r.account == account]
    stray = (Row(day, "gpt-4o", Side(), Side(input_tokens=3, requests=1, usd=STRAY), "unattributed",
                 scope="project proj_other"),)
    pct, total = totals(rows, list(stray))
    return Report(provider=provider, since=day, until=day, account=account, rows=tuple(rows), unattributed=stray,
                  tolerance_usd=Decimal("0.01"), ran_at=ran_at, matched_pct=pct, unexplained_usd=total,
                  notes=("provider days are UTC", "ledger calls of account(s) zeta are not compared"))
