"""What the proxy writes, as the store's operations: a batch of admissions and ledger rows
(`write`), one admission or row alone, keys' last use, calls in flight, stale budget holds.

How a batch commits is the engine's choice (`SqlStore.write` picks one of the two here):
`one_transaction` (SQLite: its single writer lock is taken once per batch) or
`admissions_apart` (PostgreSQL: each admission in its own short transaction under its key's
and account's locks, so no batch ever holds several keys' locks at once and two gateways'
batches cannot deadlock; the rows, last use and presence in one more transaction).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence

from aispendtrack.limits.window import Decision
from aispendtrack.store import budgets, keys, limits
from aispendtrack.store.conn import Conn
from aispendtrack.store.ledger_rows import _insert, insert_batch
from aispendtrack.store.ledger_schema import to_db_row
from aispendtrack.store.records import StoreError, StoreUnavailable
from aispendtrack.store.batch import Batch, BatchResult

FRESH = 3.0  # a proxy not heard from for this long is gone

try:
    import psycopg

    # the store cannot be written now (unreachable, shutting down, read-only): never one admission's fault
    _STORE_ERRORS: tuple[type[BaseException], ...] = (StoreError, sqlite3.OperationalError, psycopg.OperationalError,
                                                      psycopg.errors.ReadOnlySqlTransaction)
except ImportError:  # pragma: no cover
    _STORE_ERRORS = (StoreError, sqlite3.OperationalError)


def _decide(conn: Conn, batch: Batch, decide: Callable) -> list:
    """Each admission's decision, or the error that refused it alone; an error of the store
    itself (unreachable, locked, disk full) fails the whole batch."""
    out: list[Decision | BaseException] = []
    for adm in batch.admissions:
        try:
            out.append(decide(conn, adm))
        except _STORE_ERRORS:
            raise
        except Exception as e:
            out.append(e)
    return out


def _extras(conn: Conn, batch: Batch) -> None:
    if batch.touched:
        keys.touch_keys(conn, batch.touched, batch.touched_at)
    if batch.presence is not None:
        conn.execute(
            "INSERT INTO proxies(id, pid, host, started, heartbeat, inflight) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET heartbeat = excluded.heartbeat, inflight = excluded.inflight",
            list(batch.presence))


def one_transaction(conn: Conn, batch: Batch) -> BatchResult:
    result = BatchResult()

    def decide(c: Conn, adm) -> Decision:
        with c.savepoint():
            return limits.decide(c, adm)

    with conn.tx():
        result.decisions = _decide(conn, batch, decide)
        if batch.rows:
            result.ids, result.failed = _insert(conn, batch.rows, per_row=False)
        _extras(conn, batch)
    return result


def admissions_apart(conn: Conn, batch: Batch, *, durable: bool = True) -> BatchResult:
    """`durable=False`: the admissions' commits return before they are flushed
    (`limits.admit`); the rows' stays durable."""
    result = BatchResult(decisions=_each_alone(conn, batch.admissions, durable))
    decided = any(isinstance(d, Decision) for d in result.decisions)
    try:
        if batch.rows:
            result.ids, result.failed = insert_batch(conn, batch.rows, extra=lambda c: _extras(c, batch))
        elif batch.touched or batch.presence is not None:
            with conn.tx():
                _extras(conn, batch)
    except _STORE_ERRORS as e:
        if not decided:
            raise
        # the admissions committed stand; the writer retries the rows
        result.error = e if isinstance(e, StoreError) else StoreUnavailable(str(e))
    return result


def _each_alone(conn: Conn, admissions: list, durable: bool = True) -> list:
    """Each admission in its own transaction: the ones committed stand whatever follows
    (refusing them now would leave them counted). After an error of the store itself the
    rest fail with it at once, untried: they must not be decided late."""
    failing = None
    out: list[Decision | BaseException] = []
    for adm in admissions:
        if failing is None:
            try:
                out.append(limits.admit(conn, adm, durable=durable))
                continue
            except _STORE_ERRORS as e:
                if not any(isinstance(d, Decision) for d in out):
                    raise  # nothing committed: the batch fails as a whole
                failing = e
            except Exception as e:
                out.append(e)
                continue
        out.append(failing)
    return out


def record(conn: Conn, rows: Sequence[dict]) -> list[int | None]:
    """Insert ledger rows (and settle their holds) outside the proxy: the CLI, tests, tools."""
    ids, failed = insert_batch(conn, [(to_db_row(r), None) for r in rows])
    if failed:
        raise failed[0][1]
    return ids


def expire_holds(conn: Conn, now: float) -> int:
    return budgets.expire_holds(conn, now)


def presence_gone(conn: Conn, proxy_id: str, now: float) -> None:
    """This proxy stops (and proxies not heard from for an hour are forgotten)."""
    conn.execute("DELETE FROM proxies WHERE id = ? OR heartbeat < ?", [proxy_id, now - 3600])


def inflight(conn: Conn, now: float | None = None) -> int | None:
    """Calls in flight across live proxies; None when no proxy runs on this store."""
    now = time.time() if now is None else now
    count, total = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(inflight), 0) FROM proxies WHERE heartbeat > ?", [now - FRESH]
    ).fetchall()[0]
    return int(total) if count else None


def ping(conn: Conn) -> None:
    conn.execute("SELECT 1").fetchone()
