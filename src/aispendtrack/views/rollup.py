"""Daily sums of the ledger per (account, key, model), kept up to date incrementally.

The dashboard reads these few hundred rows instead of scanning the account's ledger
(a month of a busy account is hundreds of thousands of rows). `catch_up(db)` folds in the
rows whose `id` is above the stored mark; ids grow in commit order (one SQLite writer at a
time, rows never deleted), so each row is counted exactly once. The sums are made by the
report's own SQL (`report._AGG`, with its exact-money fallback) and merged with
`Stats.merge`; `report_from_days` orders them with `report.assemble`, so its numbers are
the ones `aispendtrack report --json` prints for the same day-aligned period.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from aispendtrack.views.report import _AGG, DIMENSIONS, MEMBER_KEYS, Report, _exact_cost, _stats_from_row, assemble
from aispendtrack.store.totals import CTX, Stats, canon

TABLE = "calls_daily"
_COUNTS = ("calls", "forwarded", "errors", "rejected", "rate_limited", "quota_exceeded", "budget_exceeded",
           "forbidden", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
           "reasoning_tokens", "priced_calls", "unpriced_calls", "unmetered_calls")
_GROUP = "coalesce(account, ''), json_array(key_id, model), substr(ts, 1, 10)"
_lock = threading.Lock()


def ensure_schema(db) -> None:
    """Create the sums; sums made before a count existed are dropped and made again from the
    ledger (a count added to old rows would be 0 where the ledger says otherwise)."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
        if have and not have.issuperset(_COUNTS):
            conn.execute(f"DROP TABLE {TABLE}")
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}_mark")
        cols = ", ".join(f"{c} INTEGER" for c in _COUNTS)
        conn.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (account TEXT NOT NULL, day TEXT NOT NULL,
                         grp TEXT NOT NULL, key_id TEXT, model TEXT, {cols}, cost_usd TEXT NOT NULL,
                         PRIMARY KEY (account, day, grp)) WITHOUT ROWID""")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE}_mark (one INTEGER PRIMARY KEY CHECK (one = 0), "
                     "upto INTEGER)")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _mark(conn) -> int:
    row = conn.execute(f"SELECT upto FROM {TABLE}_mark").fetchone()
    return row[0] if row else 0


def _delta(conn, lo: int, hi: int) -> list[tuple[str, str, str, Stats]]:
    out = []
    sql = f"SELECT {_GROUP}, {_AGG} FROM calls WHERE id > ? AND id <= ? GROUP BY 1, 2, 3"
    for row in conn.execute(sql, [lo, hi]).fetchall():
        st = _stats_from_row(row[3:])
        if row[-2] is not None and (row[-2] > 12 or row[-1] >= 1000):
            where = "id > ? AND id <= ? AND coalesce(account, '') = ? AND json_array(key_id, model) = ? " \
                    "AND substr(ts, 1, 10) = ?"
            _exact_cost(conn, where, [lo, hi, *row[:3]], st)
        out.append((row[0], row[2], row[1], st))  # account, day, grp
    return out


def catch_up(db) -> int:
    """Fold ledger rows added since the last call into the daily sums; returns how many rows.

    The rows are summed in a read snapshot (the proxy's writer is not held up), then
    written in one short transaction that also moves the mark."""
    conn = db.conn
    with _lock:
        if not db["calls"].exists():
            return 0
        conn.execute("BEGIN")
        try:
            lo = _mark(conn)
            hi = conn.execute("SELECT coalesce(MAX(id), 0) FROM calls").fetchone()[0]
            delta = _delta(conn, lo, hi) if hi > lo else []
        finally:
            conn.execute("COMMIT")
        if hi <= lo:
            return 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _mark(conn) != lo:  # another process folded these rows in meanwhile
                conn.execute("ROLLBACK")
                return 0
            for account, day, grp, st in delta:
                old = conn.execute(f"SELECT {', '.join(_COUNTS)}, cost_usd FROM {TABLE} WHERE account = ? AND day = ? "
                                   "AND grp = ?", [account, day, grp]).fetchone()
                if old is not None:
                    st.merge(_stats(old))
                key_id, model = json.loads(grp)
                values = [getattr(st, c) for c in _COUNTS]
                conn.execute(f"INSERT OR REPLACE INTO {TABLE} VALUES ({', '.join('?' * (len(_COUNTS) + 6))})",
                             [account, day, grp, key_id, model, *values, canon(st.cost_usd)])
            conn.execute(f"INSERT OR REPLACE INTO {TABLE}_mark VALUES (0, ?)", [hi])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return hi - lo


def _stats(row) -> Stats:
    return Stats(**dict(zip(_COUNTS, row[:-1])), cost_usd=Decimal(row[-1]))


def report_from_days(db, account: str, first: date, last: date, by: str, member_id: int | None = None) -> Report:
    """What `report(db, since=first, until=last + 1 day, by=by, account=account,
    member_id=member_id)` says, from the daily sums (`by`: model, key, member or day). Call
    `catch_up` first for the latest rows."""
    if by not in ("model", "key", "member", "day"):
        raise ValueError(f"the daily sums group by model, key, member or day, not {by!r}")
    # a key's member is looked up now, as report does: the sums are kept per key
    column = {"model": "model", "key": "key_id", "member": DIMENSIONS["member"], "day": "day"}[by]
    # Integer sums are exact in SQLite (NULL while every part is NULL, as Stats keeps them).
    sums = ", ".join(f"SUM({c})" for c in _COUNTS)
    where, params = "account = ? AND day >= ? AND day <= ?", [account, first.isoformat(), last.isoformat()]
    if member_id is not None:
        where, params = f"{where} AND {MEMBER_KEYS}", [*params, member_id]
    rows = db.conn.execute(f"SELECT {column}, day, {sums}, group_concat(cost_usd, ' ') FROM {TABLE} "
                           f"WHERE {where} GROUP BY 1, 2", params).fetchall()
    since = datetime.combine(first, time(), UTC)
    until = datetime.combine(last + timedelta(days=1), time(), UTC)
    return assemble([(r[0], r[1], _summed(r[2:])) for r in rows], since=since, until=until, by=by, account=account)


def _summed(row) -> Stats:
    cost = Decimal(0)
    for part in row[-1].split(" "):
        cost = CTX.add(cost, Decimal(part))
    return Stats(**dict(zip(_COUNTS, row[:-1])), cost_usd=cost)
