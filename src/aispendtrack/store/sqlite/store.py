"""`SqliteStore`: the store on one SQLite file (WAL), shared by every process on the machine.

Each thread gets its own connection, opened by `store.db.connect` (the one function that
opens a connection: pragmas, and the file pinned to its identity so a replaced or removed
file is never written into) and kept for the thread's later operations. One writer at a
time across every process is SQLite's own write lock (`BEGIN IMMEDIATE`). Change signals
travel through a small mapped file next to the database (`keychange`), read with a memory
compare before every decision.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aispendtrack.store import keychange
from aispendtrack.store import db as dbmod
from aispendtrack.store.base import SqlStore
from aispendtrack.store.migrate import migrate
from aispendtrack.store.sqlite.conn import SqliteConn
from aispendtrack.store.sqlite.schema import MIGRATIONS


class SqliteChanges:
    """`api.keys.Changes` on the mapped signal file."""

    def __init__(self, path: Path):
        self._watch = keychange.Watch(path)
        self._watch.open()

    def changed(self) -> frozenset[str]:
        return self._watch.changed()

    def forget(self, what: str) -> None:
        self._watch.forget(what)

    def close(self) -> None:
        self._watch.close()


class SqliteStore(SqlStore):
    engine = "sqlite"
    migrations = MIGRATIONS

    def __init__(self, path: str | Path, *, migrate_schema: bool = True):
        self.path = Path(path)
        self.target = str(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: weakref.WeakSet | set = set()
        self._closed = False
        if migrate_schema:
            with self.connection() as conn:
                migrate(conn, self.migrations)

    def _new(self) -> SqliteConn:
        raw = dbmod.connect(self.path, check_same_thread=False).conn
        conn = SqliteConn(raw, announce=lambda names: keychange.announce(self.path, names))
        with self._lock:
            self._open.add(conn)
        return conn

    @contextmanager
    def connection(self) -> Iterator[SqliteConn]:
        if self._closed:
            raise dbmod.DatabaseError(f"the store on {self.path} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.broken:
            with self._lock:
                self._open.discard(conn)
            try:
                conn.close()
            except Exception:
                pass
            conn = None
        if conn is None:
            conn = self._local.conn = self._new()
        yield conn

    @contextmanager
    def own_connection(self) -> Iterator[SqliteConn]:
        """A connection of its own, closed after the block (this thread's is shared)."""
        if self._closed:
            raise dbmod.DatabaseError(f"the store on {self.path} is closed")
        conn = self._new()
        try:
            yield conn
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def changes(self) -> SqliteChanges:
        return SqliteChanges(self.path)

    def close(self) -> None:
        """Close every connection this store opened (call when no thread uses it any more)."""
        self._closed = True
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            try:
                conn.close()
            except Exception:
                pass

    def legacy_db(self):
        """Transitional, while views still run their own SQL: this thread's connection as a
        `sqlite_utils.Database`. Removed when every read goes through the store."""
        import sqlite_utils

        with self.connection() as conn:
            return sqlite_utils.Database(conn.raw)
