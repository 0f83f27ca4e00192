"""`PostgresStore`: the store on a PostgreSQL database shared by any number of gateways.

One `psycopg_pool.ConnectionPool` per store; an operation borrows a connection for its
duration. The same logic modules as on SQLite run here: their write transactions take
advisory locks (`PostgresConn.tx`) where SQLite has its single writer. Change signals are a
`NOTIFY` sent when the change commits, heard by a listening connection per process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

from aispendtrack.store import clock, limits, traffic
from aispendtrack.store.base import SqlStore
from aispendtrack.store.conn import BUDGETS, KEYS, VAULT, WEBHOOKS
from aispendtrack.store.migrate import Migration, migrate, of_statements
from aispendtrack.store.postgres.conn import CHANNEL, PostgresConn
from aispendtrack.store.postgres.dsn import describe, scrub
from aispendtrack.store.postgres.schema import MIGRATIONS
from aispendtrack.store.records import StoreUnavailable

log = logging.getLogger(__name__)

SIGNALS = frozenset({KEYS, BUDGETS, WEBHOOKS, VAULT})
CONNECT_TIMEOUT = 10  # seconds
# How long an operation waits for a pooled connection: every one busy under load, or the
# server unreachable (the pool reconnects in the background meanwhile). Short once an
# operation has failed to reach it, so that a request is answered 503 at once while the
# server is down, never held until it is back.
POOL_WAIT = 2.0
POOL_WAIT_DOWN = 0.2


class PostgresChanges:
    """`api.keys.Changes` from `LISTEN aispendtrack_changes` on a connection of its own.

    A notification arrives after the change committed, a little later than the command's
    return; callers that must be exact at the command's return also compare versions
    (`meta`) before deciding."""

    def __init__(self, dsn: str):
        self._dsn = dsn
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="aispendtrack-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._mark(SIGNALS)  # anything may have changed while not listening
                    for note in conn.notifies():
                        self._mark(frozenset(note.payload.split(",")) & SIGNALS)
                        if self._stop.is_set():
                            break
            except psycopg.Error as e:
                if self._stop.is_set():
                    return
                log.warning("aispendtrack: listening for changes on %s failed (retrying): %s", describe(self._dsn),
                            scrub(str(e), self._dsn))
                self._mark(SIGNALS)
                self._stop.wait(1.0)

    def _mark(self, names) -> None:
        with self._lock:
            self._pending |= set(names)

    def changed(self) -> frozenset[str]:
        if not self._pending:
            return frozenset()
        with self._lock:
            names, self._pending = frozenset(self._pending), set()
        return names

    def forget(self, what: str) -> None:
        self._mark({what})

    def close(self) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            try:
                conn.cancel_safe()
            except Exception:
                pass


class PostgresStore(SqlStore):
    engine = "postgres"
    exact_signals = False  # a NOTIFY arrives after the command returned
    write_batch = staticmethod(traffic.admissions_apart)
    migrations = tuple(Migration(v, n, s) if callable(s) else of_statements(v, n, s) for v, n, s in MIGRATIONS)

    def __init__(self, dsn: str, *, migrate_schema: bool = True, min_size: int = 1, max_size: int = 8,
                 fast_admissions: bool = False):
        """`fast_admissions`: each admission's transaction commits with `synchronous_commit =
        off` (`SET LOCAL`, that transaction only; ledger rows and every other write stay
        durable). Its count, window event and budget hold are seen by every gateway at once,
        but the commit returns before the disk flush, so a hot key's lock is held a few
        hundred µs instead of a flush (ms). A crash of the database *server* (not of a
        gateway) may forget the admissions of the last moments (up to 3 × `wal_writer_delay`,
        0.6 s by default) whose calls had no ledger row committed yet: any later durable commit
        flushes the WAL before it, admissions included. Those calls are then in the ledger
        but not counted against their hourly window, monthly quota or budget. Off by default."""
        self.dsn = dsn
        self.fast_admissions = fast_admissions
        self.target = describe(dsn)
        try:  # at once, with the server's reason (refused, no such database, password), not a pool timeout
            psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT).close()
        except psycopg.Error as e:
            raise StoreUnavailable(f"cannot reach PostgreSQL at {self.target}: {scrub(str(e), dsn)}") from None
        self.pool = ConnectionPool(dsn, min_size=min_size, max_size=max_size, open=False, timeout=POOL_WAIT,
                                   kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
                                   name="aispendtrack")
        self._down = False  # the last operation could not reach the server
        try:
            self.pool.open(wait=True, timeout=10)
        except Exception as e:
            self.pool.close()
            raise StoreUnavailable(f"cannot reach PostgreSQL at {self.target}: {scrub(str(e), dsn)}") from None
        if migrate_schema:
            with self.connection() as conn:
                migrate(conn, self.migrations)

    def write(self, batch):
        with self.connection() as conn:
            return self.write_batch(conn, batch, durable=not self.fast_admissions)

    def admit(self, adm):
        with self.connection() as conn:
            return limits.admit(conn, adm, durable=not self.fast_admissions)

    @contextmanager
    def connection(self) -> Iterator[PostgresConn]:
        try:
            with self.pool.connection(timeout=POOL_WAIT_DOWN if self._down else POOL_WAIT) as raw:
                self._down = False
                yield PostgresConn(raw)
        except psycopg.OperationalError as e:  # the pool's timeout (PoolTimeout) included
            self._down = True
            raise StoreUnavailable(f"PostgreSQL at {self.target}: {scrub(str(e), self.dsn)}") from e
        except psycopg.errors.ReadOnlySqlTransaction as e:  # a standby, or default_transaction_read_only
            raise StoreUnavailable(f"PostgreSQL at {self.target} is read-only: {scrub(str(e), self.dsn)}") from e

    def clock_skew(self, now: Callable[[], float] = time.time) -> clock.Skew:
        """The server's `clock_timestamp()` against this machine's clock (`now`)."""
        with self.connection() as conn:
            def server_now() -> float:
                return float(conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[0])

            return clock.measure(server_now, now=now)

    def changes(self) -> PostgresChanges:
        return PostgresChanges(self.dsn)

    def close(self) -> None:
        self.pool.close()
