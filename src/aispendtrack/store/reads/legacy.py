"""Transitional: the views take a `SqlStore`; callers not yet converted still hand them a
`sqlite_utils.Database` (or a sqlite3 connection). `as_store` wraps such a connection as a
store that runs every operation on it (no migration, no file of its own). Removed when
every caller passes the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aispendtrack.store.base import SqlStore
from aispendtrack.store.sqlite.conn import SqliteConn


class BorrowedStore(SqlStore):
    engine = "sqlite"

    def __init__(self, raw: Any):
        self._conn = SqliteConn(raw)  # not owned: never closed here
        self.raw = raw

    @contextmanager
    def connection(self) -> Iterator[SqliteConn]:
        yield self._conn

    @contextmanager
    def own_connection(self) -> Iterator[SqliteConn]:
        yield self._conn

    def close(self) -> None:
        """The connection stays its owner's to close."""


def as_store(store_or_db: Any) -> SqlStore:
    """`store_or_db` if it is a store, else a store on its (sqlite_utils or sqlite3) connection."""
    if isinstance(store_or_db, SqlStore):
        return store_or_db
    return BorrowedStore(getattr(store_or_db, "conn", store_or_db))
