"""Each running proxy publishes its calls in flight, once a second, for `aispendtrack top`.

The ledger only sees finished calls. A proxy keeps an in-memory count of provider-bound
flows not yet recorded and a background thread writes it to the `proxies` table with a
heartbeat; readers sum the proxies heard from in the last few seconds. One tiny write per
second per proxy, never on the event loop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from aispendtrack.store.db import DatabaseLost
from aispendtrack.store.health import DbFile, Handle

log = logging.getLogger(__name__)

INTERVAL = 1.0
FRESH = 3.0  # a proxy not heard from for this long is gone


def ensure_schema(database) -> None:
    database.execute(
        """CREATE TABLE IF NOT EXISTS proxies (
            id TEXT PRIMARY KEY, pid INTEGER, host TEXT, started REAL, heartbeat REAL, inflight INTEGER)"""
    )


def inflight(database, now: float | None = None) -> int | None:
    """Calls in flight across live proxies; None when no proxy is running on this database."""
    if not database["proxies"].exists():
        return None
    now = time.time() if now is None else now
    count, total = database.execute(
        "SELECT COUNT(*), COALESCE(SUM(inflight), 0) FROM proxies WHERE heartbeat > ?", [now - FRESH]
    ).fetchall()[0]
    return total if count else None


class Presence:
    """The in-flight counter (touched on the event loop only) and its publishing thread."""

    def __init__(self, db_path: str | Path, dbfile: DbFile | None = None):
        self.db_path = str(db_path)
        self.dbfile = dbfile if dbfile is not None else DbFile(db_path)
        self.count = 0
        self.id = uuid.uuid4().hex[:12]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aispendtrack-presence", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def _run(self) -> None:
        database = Handle(self.dbfile, self._open, lambda d: d.conn.close())
        started = time.time()
        warned = False
        while True:
            try:
                database.get().execute(
                    "INSERT INTO proxies(id, pid, host, started, heartbeat, inflight) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET heartbeat = excluded.heartbeat, inflight = excluded.inflight",
                    [self.id, os.getpid(), socket.gethostname(), started, time.time(), self.count],
                )
                warned = False
            except DatabaseLost:
                pass  # said once by the DbFile; nothing more to publish until restarted
            except Exception as e:  # informational only: never disturb the proxy
                if not warned:
                    log.warning("aispendtrack: could not publish calls in flight: %s", e)
                warned = True
            if self._stop.wait(INTERVAL):
                break
        try:
            database.get().execute("DELETE FROM proxies WHERE id = ? OR heartbeat < ?", [self.id, time.time() - 3600])
        except DatabaseLost:
            pass
        except Exception as e:
            log.warning("aispendtrack: could not publish calls in flight: %s", e)
        finally:
            database.close()

    def _open(self):
        database = self.dbfile.connect()
        ensure_schema(database)
        return database
