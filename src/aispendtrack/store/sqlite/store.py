"""`SqliteStore`: the store on one SQLite file (WAL), shared by every process on the machine.

Each thread gets its own connection, opened by `store.db.connect` (the one function that
opens a connection: pragmas, and the file pinned to its identity so a replaced or removed
file is never written into) and kept for the thread's later operations. One writer at a
time across every process is SQLite's own write lock (`BEGIN IMMEDIATE`). Change signals
travel through a small mapped file next to the database (`keychange`), read with a memory
compare before every decision.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aispendtrack.store import keychange
from aispendtrack.store import db as dbmod
from aispendtrack.store.base import SqlStore
from aispendtrack.store.health import file_id
from aispendtrack.store.migrate import migrate
from aispendtrack.store.records import StoreGone
from aispendtrack.store.sqlite.conn import SqliteConn
from aispendtrack.store.sqlite.schema import MIGRATIONS

log = logging.getLogger(__name__)


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
    engine_errors = (sqlite3.Error, dbmod.DatabaseError)

    def __init__(self, path: str | Path, *, migrate_schema: bool = True):
        self.path = Path(path)
        self.target = str(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        # Weak: a worker thread that ends (a thread pool retires idle ones) takes its
        # connection with it, closed when collected; `close()` closes the rest.
        self._open: weakref.WeakSet[SqliteConn] = weakref.WeakSet()
        self._closed = False
        self._migrate = migrate_schema
        self._file = None  # the file's identity when this store opened it (or last migrated it)
        with self.connection():
            pass

    def _new(self) -> SqliteConn:
        raw = dbmod.connect(self.path, check_same_thread=False).conn
        conn = SqliteConn(raw, announce=lambda names: keychange.announce(self.path, names))
        with self._lock:
            self._open.add(conn)
        return conn

    def _drop(self, conn: SqliteConn) -> None:
        with self._lock:
            self._open.discard(conn)
        try:
            conn.close()
        except sqlite3.Error:
            pass

    def _thread_conn(self) -> SqliteConn:
        """This thread's connection, on the file the path names now. A connection to a
        deleted file keeps working and its writes vanish with the file, so the file's
        identity is checked before each operation: gone → `StoreGone` (never an empty file
        created in its place, once this store has opened one); another file (a restored
        backup, one created anew) → reopened on it, its schema brought up to date."""
        now = self._present()
        held = getattr(self._local, "held", None)
        if held is not None and held[1] == now:
            return held[0]
        if held is not None:
            log.warning("aispendtrack: database %s was replaced by another file: reopening it", self.path)
            self._drop(held[0])
        conn = self._new()
        now = file_id(self.path)
        if now != self._file:  # a file this store has not seen yet: the first, or a replacement
            if self._migrate:
                migrate(conn, MIGRATIONS)
            self._file = now
        self._local.held = (conn, now)
        return conn

    def _present(self) -> tuple[int, int] | None:
        """The file's identity now; `StoreGone` when the file this store opened is gone."""
        now = file_id(self.path)
        if now is None and self._file is not None:
            raise StoreGone(f"database file {self.path} is gone (deleted or moved)")
        return now

    @contextmanager
    def connection(self) -> Iterator[SqliteConn]:
        if self._closed:
            raise dbmod.DatabaseError(f"the store on {self.path} is closed")
        yield self._thread_conn()

    @contextmanager
    def own_connection(self) -> Iterator[SqliteConn]:
        """A connection of its own, closed after the block (this thread's is shared)."""
        if self._closed:
            raise dbmod.DatabaseError(f"the store on {self.path} is closed")
        self._present()
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
            conns, self._open = list(self._open), weakref.WeakSet()
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
