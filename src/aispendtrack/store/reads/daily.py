"""Daily sums of the ledger per (account, UTC day, key, model, provider): `calls_daily`.

`add_rows(conn, rows)` adds a batch of ledger rows to them inside the transaction that
inserts the rows, so the sums are never behind the ledger and every row counts exactly
once, whatever the number of writers (ids need not grow in commit order). Each group's
sums are read, merged with `Stats.merge` (money exact, as `Decimal`) and written back, the
groups in one sorted order so two writers never wait on each other in a cycle; on
PostgreSQL the read locks the row (`FOR UPDATE`) and a group first made by two writers at
once is merged by the one that finds the other's row.

A row's account is kept as given, NULL as "" (a key always has a named account; a 401
has none); `grp` is the JSON of (key, model, provider), the part of the key that may be NULL.
`rebuild` makes the sums again from the ledger (the schema migration that introduced
`add_rows`); `groups` reads them back grouped like a report.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from aispendtrack.store.conn import Conn
from aispendtrack.store.reads import agg
from aispendtrack.store.reads.rows import GroupDay
from aispendtrack.store.totals import Stats, canon

COUNTS = ("calls", "forwarded", "errors", "rejected", "rate_limited", "quota_exceeded", "budget_exceeded",
          "forbidden", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
          "reasoning_tokens", "priced_calls", "unpriced_calls", "unmetered_calls", "local_calls")
_KEY = "account = ? AND day = ? AND grp = ?"
_SELECT = f"SELECT {', '.join(COUNTS)}, cost_usd FROM calls_daily WHERE {_KEY}"
_UPDATE = f"UPDATE calls_daily SET {', '.join(f'{c} = ?' for c in COUNTS)}, cost_usd = ? WHERE {_KEY}"
_COLUMNS = ("account", "day", "grp", "key_id", "model", "provider", *COUNTS, "cost_usd")
_INSERT = f"INSERT INTO calls_daily ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


def grp(key_id: str | None, model: str | None, provider: str | None) -> str:
    return json.dumps([key_id, model, provider], ensure_ascii=False, separators=(",", ":"))


def _values(st: Stats) -> list:
    return [*(getattr(st, c) for c in COUNTS), canon(st.cost_usd)]


def _stats(row: Sequence[Any]) -> Stats:
    return Stats(**dict(zip(COUNTS, row[:-1])), cost_usd=Decimal(row[-1]))


def add_rows(conn: Conn, rows: Iterable[Mapping[str, Any]]) -> None:
    """Inside the caller's write transaction: add ledger rows (`ledger_schema.to_db_row`
    form, as inserted) to the daily sums."""
    groups: dict[tuple[str, str, str | None, str | None, str | None], Stats] = {}
    for row in rows:
        k = (row.get("account") or "", row["ts"][:10], row.get("key_id"), row.get("model"), row.get("provider"))
        st = groups.get(k)
        if st is None:
            st = groups[k] = Stats()
        st.add_row(row)
    select = _SELECT + (" FOR UPDATE" if conn.dialect.name == "postgres" else "")
    keyed = sorted(((account, day, grp(key_id, model, provider)), key_id, model, provider, st)
                   for (account, day, key_id, model, provider), st in groups.items())
    for k, key_id, model, provider, st in keyed:
        _add(conn, select, k, key_id, model, provider, st)


def _add(conn: Conn, select: str, k: tuple[str, str, str], key_id, model, provider, st: Stats) -> None:
    while True:
        old = conn.execute(select, k).fetchone()
        if old is not None:
            merged = _stats(old)
            merged.merge(st)
            conn.execute(_UPDATE, [*_values(merged), *k])
            return
        made = conn.execute(_INSERT + " ON CONFLICT (account, day, grp) DO NOTHING",
                            [*k, key_id, model, provider, *_values(st)])
        if made.rowcount:
            return  # else another writer made this group meanwhile: merge into theirs


def rebuild(conn: Conn) -> int:
    """Inside the caller's write transaction: make the sums again from the whole ledger;
    the number of groups."""
    conn.execute("DELETE FROM calls_daily")
    dims = ("coalesce(account, '')", "substr(ts, 1, 10)", "key_id", "model", "provider")
    out = [[account, day, grp(key_id, model, provider), key_id, model, provider, *_values(st)]
           for (account, day, key_id, model, provider), st in agg.grouped(conn, dims, "FROM calls", (), ())]
    conn.executemany(_INSERT, out)
    return len(out)


# -- reading them back ---------------------------------------------------------------------

_MEMBER_JOIN = (" LEFT JOIN keys k ON k.id = calls_daily.key_id"
                " LEFT JOIN members m ON m.id = k.member_id")
DIMENSIONS = {  # what the sums can be grouped by: select expressions, joins
    "key": (("calls_daily.key_id",), ""),
    "account": (("calls_daily.account",), ""),
    "model": (("calls_daily.model",), ""),
    "provider": (("calls_daily.provider",), ""),
    "day": ((), ""),
    "member": (("calls_daily.account", "m.name"), _MEMBER_JOIN),
    "account_model": (("calls_daily.account", "calls_daily.model"), ""),  # reconciliation (not a report's)
}
MEMBER_KEYS = "key_id IN (SELECT id FROM keys WHERE member_id = ?)"


def groups(conn: Conn, by: str, first: str | None, end: str | None, *, account: str | None = None,
           member_id: int | None = None, per_day: bool = True, provider: str | None = None) -> list[GroupDay]:
    """The sums of days in [first, end) (YYYY-MM-DD; None: unbounded) grouped by `by` and
    day (or only by `by`, day None, without `per_day`), as `report` groups the same rows:
    only `account`'s, only `member_id`'s keys, only `provider`'s calls."""
    dims, joins = DIMENSIONS[by]
    conds, params = [], []
    for cond, value in (("calls_daily.day >= ?", first), ("calls_daily.day < ?", end),
                        ("calls_daily.account = ?", account), (f"calls_daily.{MEMBER_KEYS}", member_id),
                        ("calls_daily.provider = ?", provider)):
        if value is not None:
            conds.append(cond)
            params.append(value)
    n = len(dims)
    keys = (*dims, "calls_daily.day") if per_day or not dims else dims
    sums = ", ".join(f"CAST(SUM(calls_daily.{c}) AS BIGINT)" for c in COUNTS)
    where = " AND ".join(conds) or "1 = 1"
    sql_from = f"FROM calls_daily{joins}"
    sql = (f"SELECT {', '.join(keys)}, {sums}, {', '.join(agg.money(conn.dialect))} {sql_from} WHERE {where}"
           f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}")
    k, c = len(keys), len(COUNTS)
    out = []
    for row in conn.execute(sql, params).fetchall():
        st = Stats(**dict(zip(COUNTS, row[k:k + c])))
        st.cost_usd, exact = agg.money_of(conn.dialect, row[k + c:])
        if not exact:  # a day's sum with more than 12 decimals or of $1000 and more
            more, args = [where], list(params)
            for expr, value in zip(keys, row[:k]):
                cond, arg = agg.equal(expr, value)
                more.append(cond)
                args += arg
            agg.exact_cost(conn, sql_from, " AND ".join(more), args, st)
        values = [None if by in ("account", "member") and i == 0 and v == "" else v for i, v in enumerate(row[:n])]
        day = row[n] if k > n else None
        out.append(GroupDay(tuple(values) if n > 1 else values[0] if n else day, day, st))
    return out


def upstream_calls(conn: Conn, account: str, first: str, last: str) -> int:
    """Calls of `account` that reached the provider on the days [first, last]."""
    (n,) = conn.execute("SELECT CAST(SUM(forwarded + errors) AS BIGINT) FROM calls_daily "
                        "WHERE account = ? AND day >= ? AND day <= ?", [account, first, last]).fetchone()
    return n or 0


def provider_days(conn: Conn, provider: str, first: str, last: str) -> list[GroupDay]:
    """`provider`'s calls on the UTC days [first, last] (YYYY-MM-DD) per (account, model) and
    day, in one snapshot: the gateway's side of a reconciliation with the provider's bill."""
    with conn.read():
        end = (date.fromisoformat(last) + timedelta(days=1)).isoformat()
        return groups(conn, "account_model", first, end, provider=provider)
