"""Spend reports over the ledger: `report(db, since=..., until=..., by="model") -> Report`.

Money is exact. SQLite would sum decimal text as floats, so each row's cost is turned into
an integer number of pico-dollars in SQL, `CAST(ROUND(cost_usd * 1e12) AS INTEGER)`, and
those integers are summed (SQLite integer sums are exact and raise on overflow). This is
exact for every row of a group when the group's costs are plain decimals with at most 12
fractional digits and below $1000: then n = cost * 10^12 is an integer below 2^50, and
two roundings (parse, multiply) err by at most n * 2^-52 < 0.25, so ROUND recovers n.
The query checks both conditions per group (MAX of digit count, MAX of magnitude); a group
that fails is re-summed in Python with `Decimal` from its cost strings. Token sums stay
NULL when every row of a group has NULL for that count (unknown is not 0).

Speed: the period is cut into day-aligned chunks queried on two connections in parallel
(sqlite3 releases the GIL while stepping), each grouping by (dimension, day); chunks also
give the daily spend series for free.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from aispendtrack.store import keys
from aispendtrack.store.db import connect, iso, parse_iso
from aispendtrack.store.ledger_schema import REFUSED, Outcome, sql_in
from aispendtrack.views.standing import LimitStatus, limits_status
from aispendtrack.views.periods import _utc, parse_when, resolve_period
from aispendtrack.store.totals import CTX, Stats, canon

__all__ = ["DIMENSIONS", "Group", "LimitStatus", "MemberKey", "Report", "limits_status", "parse_when", "report", "resolve_period"]

log = logging.getLogger(__name__)

DIMENSIONS = {
    "key": "key_id",
    "account": "account",
    "model": "model",
    "provider": "provider",
    "day": "substr(ts, 1, 10)",
    "hour": "substr(ts, 1, 13)",
    "status": "status",
    "outcome": "outcome",
    # members are named within their account (each account's first is `owner`): see MemberKey
    "member": "json_array(account, (SELECT m.name FROM keys k JOIN members m ON m.id = k.member_id "
              "WHERE k.id = key_id))",
    "minute": "substr(ts, 1, 16)",  # for `top`; not offered on the command line
}
_AGG = f"""COUNT(*), SUM(outcome = '{Outcome.FORWARDED}'),
  SUM(outcome IN {sql_in({Outcome.UPSTREAM_ERROR, Outcome.ABORTED})}),
  SUM(outcome = '{Outcome.REJECTED}'), SUM(outcome = '{Outcome.RATE_LIMITED}'),
  SUM(outcome = '{Outcome.QUOTA_EXCEEDED}'), SUM(outcome = '{Outcome.BUDGET_EXCEEDED}'),
  SUM(outcome = '{Outcome.FORBIDDEN}'),
  SUM(input_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(output_tokens),
  SUM(reasoning_tokens), COUNT(cost_usd),
  SUM(cost_usd IS NULL AND pricing IN ('priced', 'unpriced')),
  SUM(cost_usd IS NULL AND pricing = 'unmetered' AND outcome NOT IN {sql_in(REFUSED)}),
  SUM(CAST(ROUND(cost_usd * 1e12) AS INTEGER)),
  MAX(length(cost_usd) - instr(cost_usd, '.') + 99 * (instr(cost_usd, 'E') + instr(cost_usd, 'e'))),
  MAX(abs(cost_usd * 1.0))"""
_MAX_CHUNKS = 64
_PICO = Decimal("1e-12")


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

    def to_dict(self) -> dict:
        return {
            "since": iso(self.since) if self.since else None,
            "until": iso(self.until) if self.until else None,
            "by": self.by,
            "filters": self.filters,
            "totals": self.totals.to_dict(),
            "groups": [{**g.to_dict(), **self.labels.get(g.key, {})} for g in self.groups],
            "other": self.other.to_dict() if self.other else None,
            "daily": [{"day": d, **s.to_dict()} for d, s in self.daily],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def _stats_from_row(r: tuple) -> Stats:
    return Stats(
        calls=r[0], forwarded=r[1], errors=r[2], rejected=r[3], rate_limited=r[4],
        quota_exceeded=r[5], budget_exceeded=r[6], forbidden=r[7], input_tokens=r[8],
        cache_read_tokens=r[9], cache_write_tokens=r[10], output_tokens=r[11], reasoning_tokens=r[12],
        priced_calls=r[13], unpriced_calls=r[14], unmetered_calls=r[15],
        cost_usd=CTX.multiply(Decimal(r[16] or 0), _PICO),
    )  # fmt: skip


def _exact_cost(conn, where: str, params: list, stats: Stats) -> None:
    """Re-sum a group's costs with Decimal; unparseable costs count as unpriced."""
    total = Decimal(0)
    for (text,) in conn.execute(f"SELECT cost_usd FROM calls WHERE {where} AND cost_usd IS NOT NULL", params):
        try:
            value = Decimal(str(text).strip())
            if not value.is_finite():
                raise InvalidOperation
            total = CTX.add(total, value)
        except InvalidOperation:
            log.warning("ledger row with invalid cost_usd %r counted as unpriced", text)
            stats.priced_calls -= 1
            stats.unpriced_calls += 1
    stats.cost_usd = total


def _db_file(db) -> str:
    rows = db.execute("PRAGMA database_list").fetchall()
    return next((r[2] for r in rows if r[1] == "main"), "") or ""


def _chunks(db, since: datetime | None, until: datetime | None) -> list[tuple[str, str]]:
    lo, hi = db.execute("SELECT MIN(ts), MAX(ts) FROM calls").fetchone()
    if lo is None:
        return []
    first = max(since, parse_iso(lo)) if since else parse_iso(lo)
    last = min(until, parse_iso(hi) + timedelta(microseconds=1)) if until else parse_iso(hi) + timedelta(microseconds=1)
    if first >= last:
        return []
    day0 = datetime.combine(first.date(), time(), UTC)
    n_days = (last - day0).days + 1
    step = -(-n_days // _MAX_CHUNKS)
    bounds = [day0 + timedelta(days=i) for i in range(0, n_days + step, step)]
    cuts = [first, *(b for b in bounds if first < b < last), last]
    return [(iso(a), iso(b)) for a, b in zip(cuts, cuts[1:])]


# A member's calls: those of the keys they hold (now; a key keeps its member).
MEMBER_KEYS = "key_id IN (SELECT id FROM keys WHERE member_id = ?)"


def report(
    db, *, since: datetime | None = None, until: datetime | None = None, by: str = "model",
    top: int | None = None, account: str | None = None, key: str | None = None, member_id: int | None = None,
) -> Report:  # fmt: skip
    """Totals, per-`by` groups (cost desc, then calls) and a daily series for [since, until)."""
    if by not in DIMENSIONS:
        raise ValueError(f"unknown dimension {by!r}: one of {', '.join(DIMENSIONS)}")
    since, until = (_utc(t) if t else None for t in (since, until))
    gexpr = DIMENSIONS[by]
    conds, params = [], []
    if account is not None:
        conds.append("account = ?"), params.append(account)
    if key is not None:
        conds.append("(key_id = ? OR key_hint = ?)"), params.extend([key, key])
    if member_id is not None:
        conds.append(MEMBER_KEYS), params.append(member_id)
    filt = "".join(f" AND {c}" for c in conds)
    sql = f"SELECT {gexpr}, substr(ts, 1, 10), {_AGG} FROM calls WHERE ts >= ? AND ts < ?{filt} GROUP BY 1, 2"
    chunks = _chunks(db, since, until) if db["calls"].exists() else []
    path, local, opened = _db_file(db), threading.local(), []

    def run(chunk: tuple[str, str]) -> list[tuple[Any, str, Stats]]:
        conn = db.conn
        if path and len(chunks) > 1:
            conn = getattr(local, "conn", None)
            if conn is None:
                # the same file as `db` or none: never whatever replaced it at the path
                conn = local.conn = connect(path, check_same_thread=False, expect=getattr(db, "file_id", None)).conn
                opened.append(conn)
        out = []
        for row in conn.execute(sql, [*chunk, *params]).fetchall():
            st = _stats_from_row(row[2:])
            maxdigits, maxabs = row[-2], row[-1]
            if maxdigits is not None and (maxdigits > 12 or maxabs >= 1000):
                where = f"ts >= ? AND ts < ? AND substr(ts, 1, 10) = ?{filt} AND {gexpr} IS ?"
                _exact_cost(conn, where, [*chunk, row[1], *params, row[0]], st)
            out.append((row[0], row[1], st))
        return out

    if path and len(chunks) > 1:
        try:
            with ThreadPoolExecutor(2) as pool:
                results = [r for part in pool.map(run, chunks) for r in part]
        finally:
            for conn in opened:
                conn.close()
    else:
        results = [r for c in chunks for r in run(c)]
    rep = assemble(results, since=since, until=until, by=by, top=top, account=account, key=key)
    if by == "key":
        rep.labels = key_labels(db)
    return rep


def assemble(
    results: list[tuple[Any, str, Stats]], *, since: datetime | None, until: datetime | None, by: str,
    top: int | None = None, account: str | None = None, key: str | None = None,
) -> Report:  # fmt: skip
    """A `Report` from (group, day, stats) parts: the one place groups are merged and ordered."""
    by_group: dict[Any, Stats] = {}
    by_day: dict[str, Stats] = {}
    totals = Stats()
    for g, day, st in results:
        if by == "member":
            g = MemberKey(*json.loads(g))
        by_group.setdefault(g, Stats()).merge(st)
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


def key_labels(db) -> dict[str, dict]:
    """Key id → its name and current hint, so a report names keys rather than only ids."""
    if not db["keys"].exists():
        return {}
    return {k["id"]: {"name": k["name"], "hint": k["hint"]} for k in keys.list_keys(db)}


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
