"""Spend per member of an account: the data of the dashboard's per-member view."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from aispendtrack.store.reads.legacy import as_store
from aispendtrack.views.report import Group, report
from aispendtrack.views.stats import Stats


def member_spend(store, account: str, *, since: datetime | None = None, until: datetime | None = None,
                 member_id: int | None = None) -> list[dict]:
    """Each current member of `account` (or only `member_id`, for a member's own view) with
    role, active keys and the stats of their keys' calls in [since, until) (`Stats.to_dict`:
    `calls`, `cost_usd` as a decimal string, tokens, …); highest cost first. Calls of
    removed members' keys stay in the account's totals, not here."""
    store = as_store(store)
    groups = report(store, since=since, until=until, by="member", account=account, member_id=member_id).groups
    return member_rows(store, account, groups, member_id)


def member_rows(store, account: str, groups: list[Group], member_id: int | None = None) -> list[dict]:
    """`member_spend`'s rows from the groups of a report of `account` by member."""
    by_name = {g.key.member: g.stats for g in groups}
    rows = [{"member": m.name, "role": m.role, "active_keys": m.keys, **by_name.get(m.name, Stats()).to_dict()}
            for m in store.list_members(account)
            if member_id is None or m.id == member_id]
    return sorted(rows, key=lambda r: (-Decimal(r["cost_usd"]), -r["calls"], r["member"]))
