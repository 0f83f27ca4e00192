"""Report groups: the calls of a period grouped by a dimension and by UTC day.

Whole days come from the daily sums (`daily`): a report's cost does not grow with the
ledger. The ledger is read for what the sums cannot say: the partial days at the period's
edges, the dimensions they do not keep (provider, status, outcome, hour, minute) and a
key filter (it also matches the key's hint, which the sums do not keep). Both parts are
read in one snapshot and give the same numbers: the sums are made by the rule of the
ledger's own aggregate (`agg`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from aispendtrack.store.conn import Conn
from aispendtrack.store.db import iso
from aispendtrack.store.reads import agg, daily
from aispendtrack.store.reads.rows import GroupDay

_MEMBER_JOIN = " LEFT JOIN keys k ON k.id = calls.key_id LEFT JOIN members m ON m.id = k.member_id"
DIMENSIONS = {  # ledger select expressions and joins per dimension
    "key": (("calls.key_id",), ""),
    "account": (("calls.account",), ""),
    "model": (("calls.model",), ""),
    "provider": (("calls.provider",), ""),
    "api": (("calls.api",), ""),  # batch results show as `batch`
    "day": ((), ""),
    "hour": (("substr(calls.ts, 1, 13)",), ""),
    "status": (("calls.status",), ""),
    "outcome": (("calls.outcome",), ""),
    # members are named within their account (each account's first is `owner`)
    "member": (("calls.account", "m.name"), _MEMBER_JOIN),
    "minute": (("substr(calls.ts, 1, 16)",), ""),  # for `top`; not offered on the command line
}
_DAY = "substr(calls.ts, 1, 10)"
# A tag name as the proxy admits them (auth/tags.py): safe inside a JSON path
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def report_groups(conn: Conn, *, since: datetime | None = None, until: datetime | None = None, by: str = "model",
                  account: str | None = None, key: str | None = None, member_id: int | None = None,
                  per_day: bool = True, tag: tuple[str, str] | None = None) -> list[GroupDay]:
    """The calls in [since, until) (None: unbounded) grouped by `by` and day (or only by
    `by`, day None, without `per_day`): only `account`'s, only `key`'s (its id or hint),
    only the keys of member `member_id`, only the calls tagged `tag` (name, value)."""
    if by not in DIMENSIONS and tag_of(by) is None:
        raise ValueError(f"unknown dimension {by!r}: one of {', '.join(DIMENSIONS)}, or tag:NAME")
    filters = dict(account=account, key=key, member_id=member_id, per_day=per_day, tag=tag)
    with conn.read():
        if by not in daily.DIMENSIONS or key is not None or account == "" or tag is not None:
            return ledger_groups(conn, by, since, until, **filters)
        whole, edges = split_days(since, until)
        out = [] if whole is None else daily.groups(conn, by, *whole, account=account, member_id=member_id,
                                                    per_day=per_day)
        for lo, hi in edges:
            out += ledger_groups(conn, by, lo, hi, **filters)
        return out


def tag_of(by: str) -> str | None:
    """NAME of a `tag:NAME` dimension (a valid tag name), else None."""
    name = by[4:] if by.startswith("tag:") else None
    return name if name is not None and NAME_RE.fullmatch(name) else None


def tag_cond(conn: Conn, tag: tuple[str, str] | None, table: str = "calls") -> tuple[str, list] | None:
    """The condition "tag NAME has VALUE" on the ledger (None for no filter); `ValueError`
    for a name the proxy would not admit (it goes into the SQL as a JSON path)."""
    if tag is None:
        return None
    name, value = tag
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"tag name {name!r}: lower-case letters, digits, '_', '.', '-' (at most 64)")
    return f"{conn.dialect.json_field(f'{table}.tags', name)} = ?", [value]


def split_days(since: datetime | None, until: datetime | None):
    """[since, until) as whole UTC days (first, end) as YYYY-MM-DD (None: unbounded; None
    for no whole day) and the partial-day edges [(lo, hi), …] around them."""
    since, until = (None if t is None else t.astimezone(UTC) for t in (since, until))
    first = since if since is None or _midnight(since) == since else _midnight(since) + timedelta(days=1)
    end = until if until is None else _midnight(until)
    if first is not None and end is not None and first >= end:
        return None, [(since, until)]
    edges = [(since, first)] if since is not None and since != first else []
    if until is not None and until != end:
        edges.append((end, until))
    return (None if first is None else first.date().isoformat(), None if end is None else end.date().isoformat()), edges


def _midnight(t: datetime) -> datetime:
    return datetime.combine(t.date(), time(), UTC)


def ledger_groups(conn: Conn, by: str, since, until, *, account=None, key=None, member_id=None,
                  per_day: bool = True, tag: tuple[str, str] | None = None) -> list[GroupDay]:
    """`report_groups` from the ledger alone (no daily sums; the tags' groups always: the
    sums do not keep tags, so a tag report reads the period's rows)."""
    dims, joins = DIMENSIONS[by] if by in DIMENSIONS else ((conn.dialect.json_field("calls.tags", tag_of(by)),), "")
    conds, params = ledger_filters(conn, since, until, account=account, key=key, member_id=member_id, tag=tag)
    keys = (*dims, _DAY) if per_day or not dims else dims
    n = len(dims)
    return [GroupDay(values[:n] if n > 1 else values[0], values[n] if len(keys) > n else None, st)
            for values, st in agg.grouped(conn, keys, f"FROM calls{joins}", conds, params)]


def ledger_filters(conn: Conn, since: datetime | None, until: datetime | None, *, account=None, key=None,
                   member_id=None, tag: tuple[str, str] | None = None) -> tuple[list[str], list]:
    """The ledger conditions (and their parameters) of a read's filters, None: no filter:
    calls in [since, until), only `account`'s, only `key`'s (its id or hint), only member
    `member_id`'s keys, only the calls tagged `tag` (name, value)."""
    conds, params = [], []
    for cond, values in (("calls.ts >= ?", [since and iso(since)]), ("calls.ts < ?", [until and iso(until)]),
                         ("calls.account = ?", [account]), ("(calls.key_id = ? OR calls.key_hint = ?)", [key, key]),
                         (f"calls.{daily.MEMBER_KEYS}", [member_id])):
        if values[0] is not None:
            conds.append(cond)
            params += values
    if (tagged := tag_cond(conn, tag)) is not None:
        conds.append(tagged[0])
        params += tagged[1]
    return conds, params
