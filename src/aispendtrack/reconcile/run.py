"""reconcile(): fetch the provider's bill, read the ledger, compare. Stores nothing."""

from __future__ import annotations

from datetime import date, datetime

from aispendtrack.reconcile.model import Report


class ReconcileError(Exception):
    """A clear, user-facing reason the reconciliation could not run; never holds the admin key."""


def reconcile(config, store, provider: str, since: date, until: date,
              account: str | None = None, *, now: datetime | None = None) -> Report:
    raise ReconcileError("reconciliation is not implemented yet")
