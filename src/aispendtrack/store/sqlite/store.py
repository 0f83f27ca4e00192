"""`SqliteStore`: the store on one SQLite file (WAL), shared by every process on the machine.

Each thread gets its own connection, opened through one `DbFile` (`store.db.connect`:
pragmas, and the file pinned to its identity, so a replaced or removed file is never
written into and never gets this file's WAL) and kept for the thread's later operations. One writer at a
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
from aispendtrack.store.db import DatabaseLost
from aispendtrack.store.health import DbFile, Health
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
    migrations = MIGRATIONS

    def __init__(self, path: str | Path, *, migrate_schema: bool = True, health: Health | None = None):
        self.path = Path(path)
        self.target = str(path)
        # Pinned by the first connection; once the path names another file or none, lost
        # for the whole process until it restarts (see store/health.py for why).
        self.file = DbFile(self.path, health)
        self._local = threading.local()
        self._lock = threading.Lock()
        # Weak: a worker thread that ends (a thread pool retires idle ones) takes its
        # connection with it, closed when collected; `close()` closes the rest.
        self._open: weakref.WeakSet[SqliteConn] = weakref.WeakSet()
        self._closed = False
        self._migrate = migrate_schema
        with self.connection():
            pass

    def _new(self) -> SqliteConn:
        try:
            raw = self.file.connect(check_same_thread=False).conn
        except DatabaseLost as e:
            raise StoreGone(str(e)) from None
        conn = SqliteConn(raw, announce=lambda names: keychange.announce(self.path, names), owned=True)
        with self._lock:
            self._open.add(conn)
        if self._migrate:
            self._migrate = False  # once per process: the file is pinned, never another one
            migrate(conn, self.migrations)
        return conn

    def _drop(self, conn: SqliteConn) -> None:
        with self._lock:
            self._open.discard(conn)
        try:
            conn.close()
        except sqlite3.Error:
            pass
        self.file.release()

    def lost(self) -> str | None:
        """Why the file is lost for this process (one `stat`), or None while it is its own."""
        try:
            self.file.check()
        except DatabaseLost as e:
            return str(e)
        return None

    def _thread_conn(self) -> SqliteConn:
        """This thread's connection, after one `stat` saying the path still names the
        pinned file. A connection to a deleted file keeps working and its writes vanish
        with it, and a replaced file must never get this file's WAL: either way the thread
        lets go of its connection and `StoreGone` is raised, from then on, every time."""
        held = getattr(self._local, "conn", None)
        if held is not None and held.broken:  # a failed rollback left it unusable: a new one
            self._local.conn = None
            self._drop(held)
            held = None
        if (problem := self.lost()) is not None:
            if held is not None:
                self._local.conn = None
                self._drop(held)
            raise StoreGone(problem)
        if held is None:
            held = self._local.conn = self._new()
        return held

    def idle(self) -> None:
        """A thread with nothing to do lets go of its connection if the file was lost."""
        held = getattr(self._local, "conn", None)
        if held is not None and self.lost() is not None:
            self._local.conn = None
            self._drop(held)

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
        if (problem := self.lost()) is not None:
            raise StoreGone(problem)
        conn = self._new()
        try:
            yield conn
        finally:
            self._drop(conn)

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
        self.file.close()
        self.file.release()
