"""What the views read: report groups, the export stream, the latest calls, usage windows.

Every read answers from counters and daily sums where it can, so its cost does not grow
with the number of accounts or with ledger rows outside the question's partial days
(`store.reads`). Money is exact (`Decimal`) on every engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

from aispendtrack.store.reads.latency import Durations
from aispendtrack.store.reads.rows import CallRow, Counted, ExportRow, GroupDay


class ReadStore(Protocol):
    def report_groups(self, *, since: datetime | None = None, until: datetime | None = None, by: str = "model",
                      account: str | None = None, key: str | None = None,
                      member_id: int | None = None, per_day: bool = True,
                      tag: tuple[str, str] | None = None) -> list[GroupDay]:
        """The calls in [since, until) grouped by `by` (key, account, model, provider, day,
        hour, status, outcome, member, minute, tag:NAME) and UTC day, in one snapshot; only
        `account`'s, only `key`'s (id or hint), only member `member_id`'s keys, only the
        calls tagged `tag` (name, value: read from the ledger, the sums keep no tags). The same
        numbers whether a day comes from the daily sums or the ledger. `ValueError` for an
        unknown dimension."""

    def export_rows(self, *, since: datetime | None = None, until: datetime | None = None,
                    account: str | None = None, key: str | None = None,
                    member_id: int | None = None, tag: tuple[str, str] | None = None) -> Iterator[ExportRow]:
        """Ledger rows in [since, until), oldest first, streamed from one snapshot with
        bounded memory, on a connection of its own (close the iterator when done early)."""

    def latest_calls(self, n: int, *, account: str | None = None, member_id: int | None = None,
                     since: datetime | None = None, until: datetime | None = None,
                     tag: tuple[str, str] | None = None) -> list[CallRow]:
        """The `n` calls that started last (in [since, until)), newest first."""

    def latency_durations(self, *, since: datetime | None = None, until: datetime | None = None,
                          by: Sequence[str] = ("model",), account: str | None = None, key: str | None = None,
                          member_id: int | None = None,
                          tag: tuple[str, str] | None = None) -> dict[str, list[Durations]]:
        """The durations (total; time to first byte of streams) of the calls the provider
        answered in [since, until), per group of each dimension of `by`, ascending (one read
        of the period's ledger rows)."""

    def count_calls(self, since: datetime, until: datetime) -> int:
        """Ledger rows that started in [since, until]."""

    def key_hour(self, key_id: str, now: float, *, limiter: bool) -> Counted:
        """The key's sliding hour: the limiter's count (`limiter`) or the ledger's upstream calls."""

    def account_month(self, account: str, now: float, *, limiter: bool) -> Counted:
        """The account's calendar month: the limiter's counter or the daily sums' upstream calls."""

    def provider_days(self, provider: str, first: str, last: str) -> list[GroupDay]:
        """`provider`'s calls on the UTC days [first, last] (YYYY-MM-DD), grouped by
        (account, model) and day (reconciliation with the provider's bill)."""

    def outbox_depth(self, account: str) -> int:
        """Webhook messages of the account's endpoints not delivered yet."""
