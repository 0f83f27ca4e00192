"""The one connection interface the store's logic is written against, whatever the engine.

The store's modules (`keys`, `members`, `limits`, `budgets`, `ledger_rows`, `outbox`, …)
hold the rules and their SQL once, with `?` placeholders and SQL that SQLite and PostgreSQL
both run. What differs between the engines sits behind this interface:

* `tx(*locks)`: a write transaction. SQLite: `BEGIN IMMEDIATE`, one writer across every
  process on the file (the named locks are implied). PostgreSQL: `BEGIN`, then a
  transaction-scoped advisory lock per name, in the order given (key → account for
  admissions; one `keystore` lock for key-store changes), so the same read-then-write
  logic is exact across gateways.
* `insert(sql, params)`: the new row's id (SQLite's `lastrowid`, PostgreSQL's `RETURNING id`).
* `signal(*names)`: a change signal raised when the transaction commits (`keys`,
  `budgets`, `webhooks`, `vault`), seen by every process before its next decision.
* `dialect`: the few expressions the engines spell differently.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


# The key store's write lock (taken by every key-store change: on SQLite the one writer is
# implied) and the change signals a committed change raises.
KEYSTORE = "keystore"
KEYS, BUDGETS, WEBHOOKS, VAULT = "keys", "budgets", "webhooks", "vault"


class Cursor(Protocol):
    rowcount: int
    description: Any

    def fetchone(self) -> tuple | None: ...

    def fetchall(self) -> list[tuple]: ...


class Dialect(Protocol):
    name: str  # "sqlite" | "postgres"
    for_update: str  # " FOR UPDATE" where rows must be locked when read (SQLite's writer holds them all)
    # A statement run first in a write transaction so that its commit returns before it is
    # flushed to disk (PostgreSQL: `SET LOCAL synchronous_commit = off`, this transaction
    # only); None where the engine offers none.
    relaxed_commit: str | None

    def json_array(self, *exprs: str) -> str:
        """An expression of the JSON array text of `exprs` (equal text on both engines)."""

    def count_if(self, cond: str) -> str:
        """An integer count of the rows of a group where `cond` holds."""

    def json_field(self, expr: str, name: str) -> str:
        """The text value of field `name` of the JSON object text `expr` (NULL when absent);
        `name` is a checked tag name (auth/tags.py), never client text as such."""

    def concat_agg(self, expr: str, sep: str) -> str:
        """The values of a group's `expr` joined with `sep`."""


class Conn(Protocol):
    dialect: Dialect

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None: ...

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row as a dict of column → value."""

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 500) -> Iterator[tuple]:
        """A query's rows as they come, `size` at a time in memory (a large export); the
        connection runs nothing else until the iterator ends or is closed."""

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT into a table with an integer `id`; the new row's id."""

    def tx(self, *locks: str) -> AbstractContextManager[Conn]:
        """A write transaction (committed on a normal exit, rolled back on an exception)."""

    def read(self) -> AbstractContextManager[Conn]:
        """A read snapshot: several statements see one state of the store."""

    def savepoint(self) -> AbstractContextManager[Conn]:
        """Inside a transaction: undo only this block's writes when it raises."""

    def signal(self, *names: str) -> None:
        """Raise these change signals when the current transaction commits."""

    def close(self) -> None: ...


def rows_of(cursor: Cursor) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    for row in cursor.fetchall():
        yield dict(zip(names, row))
