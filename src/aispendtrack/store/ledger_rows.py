"""The ledger writer's SQLite side: its connection, one batch's transaction, what a log names of a row."""

from __future__ import annotations

import functools
import logging
import sqlite3
from typing import Any

from aispendtrack.store import budgets, budgets_schema
from aispendtrack.store.health import DbFile
from aispendtrack.store.ledger_schema import ensure_schema

logger = logging.getLogger("aispendtrack.store.ledger")

# Errors that belong to one row (bad value, constraint): the INSERT statement is rolled
# back by SQLite, the transaction and the other rows of the batch carry on.
ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
              OverflowError, TypeError, ValueError)


def open_connection(dbfile: DbFile, busy_timeout: float) -> sqlite3.Connection:
    """The writer's connection, with the ledger and budget tables in place."""
    database = dbfile.connect()
    conn = database.conn
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    ensure_schema(database)
    budgets_schema.ensure_schema(database)
    return conn


def close_connection(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error as e:
        logger.warning("ledger: closing the database failed: %s", e)


def insert_batch(conn: sqlite3.Connection, pending: list) -> tuple[list, list]:
    """One transaction over `(db_row, fut)` pairs: returns ids (None where the row failed) and the row failures."""
    ids: list[int | None] = []
    failed = []
    conn.execute("BEGIN IMMEDIATE")
    for row, fut in pending:
        sql = _insert_sql(tuple(row))
        try:
            cur = conn.execute(sql, tuple(row.values()))
        except ROW_ERRORS as e:
            ids.append(None)
            failed.append(((row, fut), e))
            continue
        ids.append(cur.lastrowid)
        if row.get("reservation_id"):  # the call's budget hold becomes its real cost
            budgets.settle(conn, row["reservation_id"], row.get("cost_usd"),
                           charge_all=row["outcome"] == "aborted" or bool(row.get("partial")))
    conn.execute("COMMIT")
    return ids, failed


@functools.lru_cache(maxsize=64)
def _insert_sql(columns: tuple[str, ...]) -> str:
    """The INSERT for one set of columns (rows of one kind share it, and its prepared
    statement in sqlite3's cache)."""
    return f"INSERT INTO calls ({', '.join(f'[{c}]' for c in columns)}) VALUES ({', '.join('?' * len(columns))})"


def describe(row: Any) -> Any:
    """What to log about a failed row: identifiers only, no usage detail."""
    if not isinstance(row, dict):
        return row
    return {k: row.get(k) for k in ("ts", "flow_id", "key_id", "provider", "model", "outcome")}
