"""`store.conn.Conn` on one psycopg connection (autocommit; explicit transactions).

Advisory locks stand in for SQLite's single writer: a write transaction takes a
transaction-scoped `pg_advisory_xact_lock` per name, in the order given, so every gateway
runs the same read-then-write logic one at a time per key, account or key store. Change
signals bump a version row in the transaction and `NOTIFY aispendtrack_changes` with the
names; PostgreSQL delivers the notification only when the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from aispendtrack.store.conn import rows_of
from aispendtrack.store.postgres.qmark import to_pyformat

CHANNEL = "aispendtrack_changes"


class PostgresDialect:
    name = "postgres"
    for_update = " FOR UPDATE"  # appended to a SELECT whose rows the transaction will change
    # this transaction's commit returns once it is in the WAL buffers, not flushed: a server
    # crash may forget it (a later durable commit flushes it with its own)
    relaxed_commit = "SET LOCAL synchronous_commit = off"

    @staticmethod
    def json_array(*exprs: str) -> str:
        return f"json_build_array({', '.join(exprs)})::text"

    @staticmethod
    def count_if(cond: str) -> str:
        return f"COUNT(*) FILTER (WHERE {cond})"

    @staticmethod
    def json_field(expr: str, name: str) -> str:
        return f"(({expr})::jsonb ->> '{name}')"

    @staticmethod
    def concat_agg(expr: str, sep: str) -> str:
        return f"string_agg({expr}, '{sep}')"


DIALECT = PostgresDialect()


class PostgresConn:
    dialect = DIALECT

    def __init__(self, raw: psycopg.Connection):
        raw.autocommit = True
        self.raw = raw
        self._signals: set[str] = set()
        self._savepoints = 0

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        return self.raw.execute(to_pyformat(sql), params or None, prepare=None)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        with self.raw.cursor() as cur:
            cur.executemany(to_pyformat(sql), list(seq))

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(rows_of(self.execute(sql, params)))

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 500) -> Iterator[tuple]:
        # a plain cursor would hold the whole result in memory: stream it in batches
        with self.raw.cursor() as cur:
            yield from cur.stream(to_pyformat(sql), params or None, size=size)

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.execute(sql + " RETURNING id", params).fetchone()[0]

    @contextmanager
    def tx(self, *locks: str) -> Iterator[PostgresConn]:
        if self.in_transaction:
            raise RuntimeError("a write transaction cannot start inside another one")
        self.raw.execute("BEGIN")
        try:
            for name in locks:
                self.raw.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])
            yield self
            self._bump_versions()
            self.raw.execute("COMMIT")
        except BaseException:
            self._signals.clear()
            if self.in_transaction:
                self.raw.execute("ROLLBACK")
            raise

    @contextmanager
    def read(self) -> Iterator[PostgresConn]:
        if self.in_transaction:
            yield self
            return
        self.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield self
        finally:
            if self.in_transaction:
                self.raw.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[PostgresConn]:
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self.raw.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            self.raw.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.raw.execute(f"RELEASE SAVEPOINT {name}")
            raise
        else:
            self.raw.execute(f"RELEASE SAVEPOINT {name}")
        finally:
            self._savepoints -= 1

    def signal(self, *names: str) -> None:
        self._signals.update(names)

    def _bump_versions(self) -> None:
        names, self._signals = sorted(self._signals), set()
        for name in names:
            self.raw.execute(
                "INSERT INTO meta(name, value) VALUES (%s, '1') "
                "ON CONFLICT (name) DO UPDATE SET value = (meta.value::bigint + 1)::text",
                [f"{name}_version"],
            )
        if names:
            self.raw.execute("SELECT pg_notify(%s, %s)", [CHANNEL, ",".join(names)])

    def close(self) -> None:
        self.raw.close()
