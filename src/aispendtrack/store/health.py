"""Whether the proxy can keep its ledger, and which file its connections are bound to.

A connection to a deleted database file keeps working: rows go into the unlinked file and
vanish with it. So every thread that holds a connection pins the file's identity (device,
inode) when it opens it and checks it before its work: gone → refuse (`DatabaseGone`),
replaced by another file → reopen on the new one (schema ensured), never write on blindly.

`Health` collects the problems the threads report; the event loop reads one attribute
(`problem`) per provider-bound call and answers 503 while it is set (fail closed).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class DatabaseGone(sqlite3.OperationalError):
    """The database file was deleted or moved away while the proxy ran."""


def file_id(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def gone(path: str | Path) -> DatabaseGone:
    return DatabaseGone(f"database file {path} is gone (deleted or moved)")


class Pin:
    """The identity of the file a connection was opened on."""

    __slots__ = ("path", "id")

    def __init__(self, path: str | Path):
        self.path = path
        self.id = file_id(path)

    def same(self) -> bool:
        """True while `path` still names the pinned file, False when it names another one
        (reopen there); raises `DatabaseGone` when it names none."""
        now = file_id(self.path)
        if now is None:
            raise gone(self.path)
        return now == self.id


class Follower(Generic[T]):
    """A connection (`opener()`'s result) that follows the file at `path`: reopened when the
    path names another file, refused with `DatabaseGone` when it names none. Once opened,
    it never creates a file where one vanished."""

    def __init__(self, path: str | Path, opener: Callable[[], T], closer: Callable[[T], None]):
        self.path = path
        self.value: T | None = None
        self._opener, self._closer = opener, closer
        self._pin: Pin | None = None

    def get(self) -> T:
        if self.value is not None and not self._pin.same():
            log.warning("aispendtrack: database %s was replaced by another file: reopening it", self.path)
            self.close()
        if self.value is None:
            if self._pin is not None and file_id(self.path) is None:
                raise gone(self.path)
            self.value = self._opener()
            self._pin = Pin(self.path)
        return self.value

    def close(self) -> None:
        value, self.value = self.value, None
        if value is not None:
            self._closer(value)


def advice(problem: str) -> str:
    """What an operator should do about a ledger problem."""
    text = problem.lower()
    if "max_clock_skew_ms" in text:
        return "synchronise the clocks (the problem says how)"
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
        self._lock = threading.Lock()

    def report(self, source: str, problem: str | None) -> None:
        with self._lock:
            if self._problems.get(source) == problem:
                return
            if problem is None:
                self._problems.pop(source, None)
            else:
                self._problems[source] = problem
            before, self.problem = self.problem, next(iter(self._problems.values()), None)
        if self.problem is not None and before is None:
            log.warning(
                "AiSpendTrack: cannot keep the ledger (%s): provider calls are answered 503 until it can; "
                "%s, the proxy resumes by itself", self.problem, advice(self.problem),
            )
        elif self.problem is None and before is not None:
            log.warning("AiSpendTrack: ledger %s is writable again: provider calls are forwarded", self.db_path)
