"""Whether the proxy can keep its ledger, and the one database file a process works on.

A process pins its database file (device, inode) with its first connection (`DbFile`) and
never follows the path to another file: SQLite keeps a file's WAL by name, so a process that
reopened a replaced file while one of its connections, or another process's, still held the
old one would hand the old file's WAL to the new file (see walowner.py). The first time any
thread sees the path name another file, or none, the file is lost for the whole process:
each thread closes its connection before using it again (`SqliteStore`), nothing is opened there
any more, the log says what happened, and what needs the database is refused (the proxy:
503 in the provider's format; serve: 503 `storage_unavailable`) until the process restarts.

`Health` collects the problems the threads report; the event loop reads one attribute
(`problem`) per provider-bound call and answers 503 while it is set (fail closed).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from aispendtrack.store import db as dbmod
from aispendtrack.store import walowner
from aispendtrack.store.db import DatabaseLost
from aispendtrack.store.walowner import FileId, file_id


log = logging.getLogger(__name__)


class DbFile:
    """The database file of one process: pinned by the first `connect()`, lost for good
    (`lost` says why) once its path names another file or none.

    The pinning connection stays open until `close()`: an inode is never reused while its
    file is open, so a file deleted and created anew at the path is told apart from the
    pinned one even while no other connection is open."""

    def __init__(self, path: str | Path, health: Health | None = None):
        self.path = Path(path)
        self.health = health
        self.id: FileId | None = None
        self.lost: str | None = None
        self._anchor: dbmod.Database | None = None
        self._lock = threading.Lock()

    def connect(self, *, check_same_thread: bool = True) -> dbmod.Database:
        """A new connection to the pinned file (the first one pins it); `DatabaseLost` once lost."""
        self.check()
        try:
            with self._lock:
                if self._anchor is None:
                    self._anchor = dbmod.connect(self.path, check_same_thread=False, expect=self.id)
                    self.id = self._anchor.file_id
            return dbmod.connect(self.path, check_same_thread=check_same_thread, expect=self.id)
        except DatabaseLost:
            self._lose()
            raise DatabaseLost(self.lost) from None

    def close(self) -> None:
        """The process is done with the file (its other connections are closed)."""
        with self._lock:
            anchor, self._anchor = self._anchor, None
        if anchor is not None:
            anchor.conn.close()

    def check(self) -> None:
        """Raise `DatabaseLost` once the path no longer names the pinned file (one stat)."""
        if self.lost is None and (self.id is None or file_id(self.path) == self.id):
            return
        self._lose()
        raise DatabaseLost(self.lost)

    def _lose(self) -> None:
        with self._lock:
            if self.lost is not None:
                return
            what = "removed (deleted or moved away)" if file_id(self.path) is None else "replaced by another file"
            self.lost = (f"database file {self.path} was {what} while this process ran; nothing is written to it "
                         f"any more: restart the proxy and serve to use the file now at that path")
        log.warning("AiSpendTrack: %s (to restore a backup: stop, copy, start)", self.lost)
        if self.health is not None:
            self.health.lose(self.lost)
        self.close()
        self.release()

    def release(self) -> None:
        """Once lost, after a connection to it was closed: take the old file's WAL away from
        the path as soon as no other process has it open (see walowner.py)."""
        if self.lost is not None and self.id is not None:
            walowner.release(self.path, self.id)


def advice(problem: str) -> str:
    """What an operator should do about a ledger problem."""
    text = problem.lower()
    if "max_clock_skew_ms" in text:
        return "synchronise the clocks (the problem says how)"
    if "postgresql" in text:
        return "check that the PostgreSQL server is running, reachable from here and accepts writes"
    if "full" in text:
        return "free disk space"
    if "readonly" in text or "read-only" in text or "permission" in text:
        return "make the database file and its folder writable"
    if "gone" in text or "no such file" in text or "unable to open" in text:
        return "restore the database file (or create it again with the aispendtrack CLI)"
    return "check the database file and the disk"


class Health:
    """Problems reported by source ("keystore", "ledger"); `problem` is the first or None.

    Thread-safe; reading `problem` is one attribute load (the event loop does it per call).
    """

    def __init__(self, db_path: str | Path = ""):
        self.db_path = db_path
        self.problem: str | None = None
        self._problems: dict[str, str] = {}
        self.lost: str | None = None  # the database file is lost until restarted (DbFile)
        self._lock = threading.Lock()

    def lose(self, problem: str) -> None:
        """A problem that lasts until the process restarts (its `DbFile` logged it)."""
        with self._lock:
            self.lost = self.lost or problem
            self.problem = self.lost

    def report(self, source: str, problem: str | None) -> None:
        with self._lock:
            if self._problems.get(source) == problem:
                return
            if problem is None:
                self._problems.pop(source, None)
            else:
                self._problems[source] = problem
            before, self.problem = self.problem, self.lost or next(iter(self._problems.values()), None)
        if self.lost is not None:
            return
        if self.problem is not None and before is None:
            log.warning(
                "AiSpendTrack: cannot keep the ledger (%s): provider calls are answered 503 until it can; "
                "%s, the proxy resumes by itself", self.problem, advice(self.problem),
            )
        elif self.problem is None and before is not None:
            log.warning("AiSpendTrack: ledger %s is writable again: provider calls are forwarded", self.db_path)
