"""The data path's side of the store: admit a call, record it, and the counters behind both.

`admit` and `record` are the two calls the proxy makes per request. Both are exact across
every process sharing the store: an admission is decided and counted in one transaction
(the hourly window, the monthly quota and the budget holds move together or not at all),
and a ledger row is inserted in the transaction that settles its budget hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aispendtrack.limits import budget as rules
from aispendtrack.limits.window import Decision
from aispendtrack.store.budgets import Charge, Reservation, Standing
from aispendtrack.store.records import Usage


@dataclass(frozen=True, slots=True)
class Admission:
    """One request to admit at `now` (epoch): counted against the key's hour and the
    account's month, and with a `charge` held on its budgets."""

    key_id: str
    account: str
    hourly_limit: int | None  # None: unlimited
    monthly_limit: int | None
    now: float
    charge: Charge | None = None
    # The presented secret's digest: checked against the store in the same transaction
    # (revoked, rotated out, expired), where the store's change signals are not exact
    # (`SqlStore.exact_signals`: PostgreSQL's notifications arrive after the command returned).
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """A ledger row's fate: its id once committed, or the error that refused this row alone."""

    id: int | None
    error: BaseException | None = None


class TrafficStore(Protocol):
    def admit(self, admissions: Sequence[Admission]) -> list[Decision]:
        """Decide and count each admission in order (one transaction where the backend
        can); a refused one moves no counter. Raises `StoreUnavailable` for the batch."""

    def record(self, rows: Sequence[dict[str, Any]]) -> list[Recorded]:
        """Insert ledger rows (`ledger_schema.to_db_row` form) and settle their budget holds,
        in one durable transaction; a row the store refuses fails alone. Raises
        `StoreUnavailable` when nothing could be committed (the caller keeps the rows)."""

    def hold_budget(self, key_id: str, account: str, charge: Charge, now: float, *, force: bool = False) -> Reservation:
        """Hold `charge` on the key's and account's budgets without
        counting a call; the ledger row naming the hold's id settles it. Refused (no id,
        `refused_by` set) when it does not fit, unless `force`."""

    def touch_keys(self, key_ids: Iterable[str], when: str) -> None:
        """Record that these keys were used (`last_used`); informational."""

    def usage(self, *, key_id: str | None = None, account: str | None = None, now: float) -> Usage:
        """The limiter's counters: the key's sliding hour and the account's month at `now`."""

    def reset_key(self, key_id: str) -> int:
        """Forget a key's hourly window; rows removed."""

    def reset_account(self, account: str, month: str | None = None) -> int:
        """Zero an account's monthly counter for `month` ("2026-11"), or all months."""

    # -- budgets ---------------------------------------------------------------------

    def set_budget(self, scope: str, subject: str, usd: Any, period: str, *, now: float) -> rules.Budget:
        """Create or replace a budget; its current period's spend is recounted."""

    def clear_budget(self, scope: str, subject: str) -> bool:
        """Remove a budget; True when one was there."""

    def get_budget(self, scope: str, subject: str) -> rules.Budget | None: ...

    def budgets(self) -> list[rules.Budget]:
        """Every budget row (tier defaults are config, not rows)."""

    def standing(self, budget: rules.Budget, *, now: float) -> Standing:
        """Where `budget` stands in its period of `now`, writing nothing."""
