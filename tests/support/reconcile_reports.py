"""Reconciliation reports built directly (no fetcher, no provider): what the scheduler, the
store and the dashboard are tested with."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aispendtrack.reconcile.model import Report, Row, Side

DAY = date(2026, 3, 4)


def report(provider: str = "openai", *, account: str | None = None, unexplained: str = "0.00",
           day: date = DAY, ran_at: str = "2026-03-05T01:02:03.000000Z", matched_pct: float = 100.0) -> Report:
    """A one-day report: one row that matches, one the gateway missed (by `unexplained`
    dollars), one unattributed provider row."""
    gap = Decimal(unexplained)
    same = Side(input_tokens=1200, cached_tokens=300, output_tokens=450, requests=7, usd=Decimal("0.012345"))
    under = Side(input_tokens=10, output_tokens=5, requests=1, usd=Decimal("0.000100"))
    return Report(
        provider=provider, since=day, until=day, account=account,
        rows=(Row(day, "gpt-4o-mini", same, same, "matches"),
              Row(day, "gpt-4o", under, Side(input_tokens=10, output_tokens=5, batch_tokens=5, requests=2,
                                            usd=under.usd + gap), "gateway under",
                  note="metering gap: 1 call unmetered that day")),
        unattributed=(Row(day, "gpt-4o", Side(), Side(input_tokens=3, requests=1, usd=Decimal("0")), "unattributed",
                          scope="proj_other"),),
        tolerance_usd=Decimal("0.01"), ran_at=ran_at, matched_pct=matched_pct, unexplained_usd=gap,
        notes=("provider days are UTC", "prices as of the run"))
