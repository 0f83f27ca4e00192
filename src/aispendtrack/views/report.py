"""Spend reports: `report(store, since=..., until=..., by="model") -> Report`.

The store groups the calls of the period by the dimension and by day
(`store.report_groups`: whole days from the daily sums, the ledger only for the partial
days at the edges and for what the sums do not keep; money exact on every engine); this
module merges those parts into ordered groups, totals and a daily series (`assemble`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from aispendtrack.store.db import iso
from aispendtrack.store.reads.legacy import as_store
from aispendtrack.store.reads.report import DIMENSIONS as _DIMENSIONS
from aispendtrack.store.reads.report import tag_of
from aispendtrack.store.totals import Stats, canon
from aispendtrack.views.latency import NONE, Latency, latency_groups
from aispendtrack.views.periods import _utc, parse_when, resolve_period
from aispendtrack.views.standing import LimitStatus, limits_status

__all__ = ["DIMENSIONS", "Group", "LimitStatus", "MemberKey", "Report", "limits_status", "parse_when", "report", "resolve_period"]

DIMENSIONS = tuple(_DIMENSIONS)  # "minute" is for `top`; not offered on the command line


class MemberKey(NamedTuple):
    """A group of `by="member"`: the account and the member's name in it (None = unknown)."""

    account: str | None
    member: str | None

    @property
    def label(self) -> str | None:
        """`acme/owner`; None when the member is unknown (a removed member's keys, a 401)."""
        return None if self.member is None else f"{self.account}/{self.member}"


@dataclass
class Group:
    key: Any  # the dimension's value (None = unknown); a MemberKey by member
    stats: Stats

    def to_dict(self) -> dict:
        if isinstance(self.key, MemberKey):
            return {"key": self.key.label, "account": self.key.account, "member": self.key.member,
                    **self.stats.to_dict()}
        return {"key": self.key, **self.stats.to_dict()}


@dataclass
class Report:
    since: datetime | None
    until: datetime | None
    by: str
    totals: Stats
    groups: list[Group]
    other: Group | None = None  # groups cut by `top`, merged (key = number of groups)
    daily: list[tuple[str, Stats]] = field(default_factory=list)
    filters: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)  # by key: key id → {"name", "hint"}
    latency: dict[Any, Latency] | None = None  # per group (`report(latency=True)`)
    latency_total: Latency | None = None

    def group_latency(self, key: Any) -> Latency:
        return (self.latency or {}).get(key, NONE)

    def to_dict(self) -> dict:
        lat = {} if self.latency is None else {"latency": self.latency_total.to_dict()}
        return {
            "since": iso(self.since) if self.since else None,
            "until": iso(self.until) if self.until else None,
            "by": self.by,
            "filters": self.filters,
            "totals": self.totals.to_dict(),
            "groups": [{**g.to_dict(), **self.labels.get(g.key, {}),
                        **({} if self.latency is None else {"latency": self.group_latency(g.key).to_dict()})}
                       for g in self.groups],
            "other": self.other.to_dict() if self.other else None,
            "daily": [{"day": d, **s.to_dict()} for d, s in self.daily],
            **lat,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def report(
    store, *, since: datetime | None = None, until: datetime | None = None, by: str = "model",
    top: int | None = None, account: str | None = None, key: str | None = None, member_id: int | None = None,
    per_day: bool = True, tag: tuple[str, str] | None = None, latency: bool = False,
) -> Report:  # fmt: skip
    """Totals, per-`by` groups (cost desc, then calls) and a daily series (not without
    `per_day`) for [since, until): only `account`'s calls, only `key`'s (its id or hint),
    only the keys of `member_id`, only the calls tagged `tag` (name, value); with `latency`
    the groups' latency percentiles (`views.latency`)."""
    if by not in DIMENSIONS and tag_of(by) is None:
        raise ValueError(f"unknown dimension {by!r}: one of {', '.join(DIMENSIONS)}, or tag:NAME")
    store = as_store(store)
    since, until = (_utc(t) if t else None for t in (since, until))
    parts = store.report_groups(since=since, until=until, by=by, account=account, key=key, member_id=member_id,
                                per_day=per_day, tag=tag)
    rep = assemble(parts, since=since, until=until, by=by, top=top, account=account, key=key)
    if tag is not None:
        rep.filters["tag"] = f"{tag[0]}={tag[1]}"
    if latency:
        rep.latency, rep.latency_total = latency_groups(store, since=since, until=until, by=by, account=account,
                                                        key=key, member_id=member_id, tag=tag)
    if by == "key":
        rep.labels = key_labels(store)
    return rep


def assemble(
    results: list[tuple[Any, str, Stats]], *, since: datetime | None, until: datetime | None, by: str,
    top: int | None = None, account: str | None = None, key: str | None = None,
) -> Report:  # fmt: skip
    """A `Report` from (group, day, stats) parts (`store.report_groups`): the one place
    groups are merged and ordered."""
    by_group: dict[Any, Stats] = {}
    by_day: dict[str, Stats] = {}
    totals = Stats()
    for g, day, st in results:
        if by == "member":
            g = MemberKey(*g)
        by_group.setdefault(g, Stats()).merge(st)
        if day is not None:
            by_day.setdefault(day, Stats()).merge(st)
        totals.merge(st)
    groups = sorted((Group(k, s) for k, s in by_group.items()), key=lambda g: (-g.stats.cost_usd, -g.stats.calls, str(g.key)))
    other = None
    if top is not None and len(groups) > top:
        rest = Stats()
        for g in groups[top:]:
            rest.merge(g.stats)
        other, groups = Group(len(groups) - top, rest), groups[:top]
    filters = {k: v for k, v in (("account", account), ("key", key)) if v is not None}
    for st in (totals, *by_group.values(), *by_day.values(), *([other.stats] if other else [])):
        st.cost_usd = Decimal(canon(st.cost_usd))
    return Report(since, until, by, totals, groups, other, _fill_days(by_day, since, until), filters)


def key_labels(store) -> dict[str, dict]:
    """Key id → its name and current hint, so a report names keys rather than only ids."""
    return {k.id: {"name": k.name, "hint": k.hint} for k in store.list_keys()}


def _fill_days(by_day: dict[str, Stats], since, until) -> list[tuple[str, Stats]]:
    if not by_day:
        return []
    first = date.fromisoformat(min(by_day))
    last = date.fromisoformat(max(by_day))
    if since and until and (until - since) <= timedelta(days=62):
        first = min(first, since.date())
        last = max(last, (until - timedelta(microseconds=1)).date())
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [(d.isoformat(), by_day.get(d.isoformat()) or Stats()) for d in days]
