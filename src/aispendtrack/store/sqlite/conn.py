"""`store.conn.Conn` on one sqlite3 connection (autocommit mode; explicit transactions)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from aispendtrack.store.conn import rows_of

log = logging.getLogger(__name__)


class SqliteDialect:
    name = "sqlite"
    for_update = ""  # appended to a SELECT whose rows the transaction will change
    relaxed_commit = None  # one writer, one file: every commit is as durable as the others

    @staticmethod
    def json_array(*exprs: str) -> str:
        return f"json_array({', '.join(exprs)})"

    @staticmethod
    def count_if(cond: str) -> str:
        return f"SUM({cond})"

    @staticmethod
    def json_field(expr: str, name: str) -> str:
        return f"json_extract({expr}, '$.\"{name}\"')"

    @staticmethod
    def concat_agg(expr: str, sep: str) -> str:
        return f"group_concat({expr}, '{sep}')"


DIALECT = SqliteDialect()


class SqliteConn:
    """Wraps an autocommit sqlite3 connection. `announce(names)` is called after a commit
    that raised change signals (the engine's signal: a file every process maps)."""

    dialect = DIALECT

    def __init__(self, raw: sqlite3.Connection, announce: Callable[[frozenset[str]], None] | None = None, *,
                 owned: bool = False):
        self.raw = raw
        self._owned = owned  # opened for this wrapper (the store's): closed with it
        self._announce = announce
        self._signals: set[str] = set()
        self._savepoints = 0
        self.broken = False  # a failed rollback left it unusable

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.raw.execute(sql, params)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        self.raw.executemany(sql, seq)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(rows_of(self.raw.execute(sql, params)))

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 500) -> Iterator[tuple]:
        cur = self.raw.execute(sql, params)
        try:
            while batch := cur.fetchmany(size):
                yield from batch
        finally:
            cur.close()

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.raw.execute(sql, params).lastrowid

    @contextmanager
    def tx(self, *locks: str) -> Iterator[SqliteConn]:
        # One writer at a time across every process on the file: the named locks are implied.
        if self.raw.in_transaction:
            raise RuntimeError("a write transaction cannot start inside another one")
        self.raw.execute("BEGIN IMMEDIATE")
        try:
            yield self
            self._bump_versions()
            self.raw.execute("COMMIT")
        except BaseException:
            self._signals.clear()
            self._rollback()
            raise
        self._flush_signals()

    def _rollback(self) -> None:
        if not self.raw.in_transaction:
            return
        try:
            self.raw.execute("ROLLBACK")
        except sqlite3.Error as e:
            # Left inside a transaction it could never start another: the store replaces it.
            log.warning("aispendtrack: rollback failed (%s): the database connection is opened again", e)
            self.broken = True

    @contextmanager
    def read(self) -> Iterator[SqliteConn]:
        if self.raw.in_transaction:
            yield self
            return
        self.raw.execute("BEGIN")
        try:
            yield self
        finally:
            if self.raw.in_transaction:
                self.raw.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[SqliteConn]:
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self.raw.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            self.raw.execute(f"ROLLBACK TO {name}")
            self.raw.execute(f"RELEASE {name}")
            raise
        else:
            self.raw.execute(f"RELEASE {name}")
        finally:
            self._savepoints -= 1

    def signal(self, *names: str) -> None:
        self._signals.update(names)

    def _bump_versions(self) -> None:
        for name in sorted(self._signals):
            self.raw.execute(
                "INSERT INTO meta(name, value) VALUES (?, '1') "
                "ON CONFLICT(name) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
                [f"{name}_version"],
            )

    def _flush_signals(self) -> None:
        names, self._signals = frozenset(self._signals), set()
        if names and self._announce is not None:
            self._announce(names)

    def close(self) -> None:
        self.raw.close()

    def __del__(self) -> None:
        # sqlite3 connections sit in a reference cycle (their statement cache), so one a
        # finished thread dropped would stay open until a garbage collection: its file
        # handles and locks kept SQLite from checkpointing or leaving WAL mode meanwhile.
        # A connection only wrapped here (a caller's) stays its caller's.
        if self._owned:
            try:
                self.raw.close()
            except Exception:
                pass
