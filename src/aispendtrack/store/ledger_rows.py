"""One batch of ledger rows in one transaction, with their budget settlements and the daily
sums they add to (budget counters first, then the sums, each in sorted order: one lock order
for every writer); what a log names of a row."""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aispendtrack.store import budgets
from aispendtrack.store.reads import daily
from aispendtrack.store.conn import Conn

logger = logging.getLogger("aispendtrack.store.ledger")

# Errors that belong to one row (bad value, constraint), not to the store.
ROW_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError, OverflowError, TypeError, ValueError)
try:  # PostgreSQL's: the row's data or a constraint
    import psycopg

    ROW_ERRORS += (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError)
except ImportError:  # pragma: no cover - psycopg is a dependency
    pass


class _RowAborted(Exception):
    """A row failed where the engine rolls back the whole transaction (PostgreSQL)."""


def insert_batch(conn: Conn, pending: list, extra: Callable[[Conn], None] | None = None) -> tuple[list, list]:
    """One write transaction over `(db_row, fut)` pairs (and `extra`'s writes): returns ids
    (None where the row failed) and the row failures `((row, fut), error)`. A failed row
    fails alone: SQLite undoes only its statement; on PostgreSQL, where a failed statement
    ends the transaction, the batch is written again with a savepoint per row."""
    for per_row in (False, True):
        try:
            with conn.tx():
                out = _insert(conn, pending, per_row=per_row)
                if extra is not None:
                    extra(conn)
                return out
        except _RowAborted:
            continue
    raise AssertionError("unreachable: the per-row pass never aborts")


def _insert(conn: Conn, pending: list, *, per_row: bool) -> tuple[list, list]:
    ids: list[int | None] = []
    failed = []
    settlements: dict[str, budgets.Settlement] = {}
    added = []
    isolated = per_row or conn.dialect.name == "sqlite"
    for row, fut in pending:
        sql = _insert_sql(tuple(row))
        try:
            if per_row:
                with conn.savepoint():
                    rid, fresh = _insert_row(conn, sql, row)
            else:
                rid, fresh = _insert_row(conn, sql, row)
        except ROW_ERRORS as e:
            if not isolated:
                raise _RowAborted() from e
            ids.append(None)
            failed.append(((row, fut), e))
            continue
        ids.append(rid)
        if fresh:
            added.append(row)
        if row.get("reservation_id"):  # the call's budget hold becomes its real cost
            _settle(settlements, row, fresh)
    if settlements:
        budgets.settle_many(conn, list(settlements.values()))
    daily.add_rows(conn, added)
    return ids, failed


def _insert_row(conn: Conn, sql: str, row: dict) -> tuple[int, bool]:
    """(id, whether the row is new). A batch row whose (batch, model) is already in the
    ledger — a second download, maybe by another gateway at the same moment — is not
    inserted: the id is the row that counted it."""
    if row.get("batch_key") is None:
        return conn.insert(sql, tuple(row.values())), True
    made = conn.execute(sql + " ON CONFLICT DO NOTHING RETURNING id", tuple(row.values())).fetchone()
    if made is not None:
        return made[0], True
    (rid,) = conn.execute("SELECT id FROM calls WHERE batch_key = ? AND coalesce(model, '') = ?",
                          (row["batch_key"], row.get("model") or "")).fetchone()
    return rid, False


def _settle(settlements: dict, row: dict, fresh: bool) -> None:
    """One settlement per hold: the rows of one batch download (one per model) share it and
    their costs add up; a row counted before adds nothing."""
    rid = row["reservation_id"]
    cost = row.get("cost_usd") if fresh else "0"
    prev = settlements.get(rid)
    if prev is not None and prev.cost_usd is not None and cost is not None:
        cost = str(Decimal(prev.cost_usd) + Decimal(cost))
    elif prev is not None:
        cost = prev.cost_usd if cost is None else cost
    settlements[rid] = budgets.Settlement(rid, cost, charge_all=row["outcome"] == "aborted" or bool(row.get("partial")))


@functools.lru_cache(maxsize=64)
def _insert_sql(columns: tuple[str, ...]) -> str:
    """The INSERT for one set of columns (rows of one kind share it, and its prepared
    statement in the driver's cache)."""
    return f"INSERT INTO calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def describe(row: Any) -> Any:
    """What to log about a failed row: identifiers only, no usage detail."""
    if not isinstance(row, dict):
        return row
    return {k: row.get(k) for k in ("ts", "flow_id", "key_id", "provider", "model", "outcome")}
