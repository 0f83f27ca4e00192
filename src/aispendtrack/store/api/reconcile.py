"""Saved reconciliations: the scheduler saves each run, the dashboard and `/v1/reconcile` read
them (`store.reconcile_runs`). A save is whole or nothing: a failed save loses no earlier run."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Protocol

from aispendtrack.reconcile.model import Report, Row
from aispendtrack.store.reconcile_runs import ReconcileRun


class ReconcileStore(Protocol):
    def save_reconcile(self, report: Report, *, accounts: Iterable[str] = (), drift_usd: Decimal | None = None,
                       now: float | None = None) -> int:
        """Save a report and its rows; the run's id. `accounts`: whom a report over every
        account concerns. Queues `reconcile.drift` to each whose own unexplained dollars
        are above `drift_usd`."""

    def save_reconcile_failure(self, provider: str, since: date, until: date, error: str, *,
                               account: str | None = None, accounts: Iterable[str] = (),
                               ran_at: str | None = None) -> int:
        """Save a run that could not be made, with its message; the run's id."""

    def latest_reconcile_runs(self, account: str | None = None, *, ok_only: bool = False) -> list[ReconcileRun]:
        """The newest run per provider and run scope: `account`'s share of each concerning it
        (its own rows' figures), or (None) the whole runs."""

    def get_reconcile_run(self, run_id: int, account: str | None = None) -> ReconcileRun | None:
        """`account`'s share of the run (None when it does not concern `account`), or the whole run."""

    def reconcile_run_rows(self, run_id: int, account: str | None = None) -> tuple[tuple[Row, ...], tuple[Row, ...]]:
        """(rows, unattributed) of a run in the report's order; only `account`'s rows with `account`."""

    def load_reconcile_report(self, run_id: int) -> Report | None:
        """A good run's report as saved; None for a failed or unknown run."""

    def claim_reconcile_day(self, provider: str, day: date, now: float | None = None) -> bool:
        """True once per provider and day across every process (the daily schedule)."""
