"""One SQLite file holds the key store, the limit counters and the ledger.

Every connection is opened the same way: WAL (readers never block the writer, several
proxy processes share one file), a busy timeout instead of instant `database is locked`,
and `synchronous=NORMAL`, which in WAL mode is still durable across a process crash
(kill -9); only a power loss can drop the last commits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

BUSY_TIMEOUT_MS = 10_000


class DatabaseError(Exception):
    """The database file cannot be opened or used (message names the file)."""


# SQLite primary result codes that mean the storage is at fault, not the request: what
# an operator must fix (or wait out), reported as such instead of as a bug.
_STORAGE_CODES = {
    sqlite3.SQLITE_BUSY: "the database is busy", sqlite3.SQLITE_LOCKED: "the database is busy",
    sqlite3.SQLITE_READONLY: "the database is read-only", sqlite3.SQLITE_IOERR: "disk I/O error",
    sqlite3.SQLITE_CORRUPT: "the database file is damaged", sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened", sqlite3.SQLITE_NOTADB: "not a database file",
}  # fmt: skip


def storage_problem(error: BaseException) -> str | None:
    """What is wrong with the storage when `error` comes from it (disk full, read-only, …);
    None for any other error (a bug, a constraint)."""
    if isinstance(error, DatabaseError):
        return (error.__cause__ and storage_problem(error.__cause__)) or "the database cannot be opened"
    if isinstance(error, OSError):
        return error.strerror or "the database file cannot be written"
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(error, sqlite3.Error) and code is not None:
        return _STORAGE_CODES.get(code & 0xFF)
    return None


def _wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. Processes opening a new file together race for that switch, and
    SQLite answers the loser `database is locked` at once, without its busy handler:
    retried here for as long as the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            busy = (getattr(e, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def connect(path: str | Path, *, check_same_thread: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the database at `path`, configured for shared use."""
    path = Path(path)
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(path),
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=check_same_thread,
            isolation_level=None,  # autocommit; explicit BEGIN where atomicity matters
        )
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except (sqlite3.Error, OSError) as e:
        raise DatabaseError(f"cannot open database {path}: {e}") from e
    return sqlite_utils.Database(conn)


def settle(outcomes: Iterable[tuple[object, object, BaseException | None]]) -> None:
    """Resolve `(future, result, error)` triples from a worker thread that did SQLite work.

    `concurrent.futures` futures are resolved at once; asyncio futures with one
    `call_soon_threadsafe` per event loop for the whole batch: each wake-up of the loop
    costs a self-pipe write, a context switch and a GIL hand-off, so one per batch, not
    one per row or check.
    """
    loops: dict[asyncio.AbstractEventLoop, list] = {}
    for fut, result, error in outcomes:
        if isinstance(fut, asyncio.Future):
            loops.setdefault(fut.get_loop(), []).append((fut, result, error))
            continue
        try:
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)
        except concurrent.futures.InvalidStateError:
            pass
    for loop, items in loops.items():
        try:
            loop.call_soon_threadsafe(_settle_on_loop, items)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


def _settle_on_loop(items: list) -> None:
    for fut, result, error in items:
        if fut.done():  # its waiter was cancelled (the client went away)
            continue
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | float) -> str:
    """ISO 8601 UTC with microseconds and a `Z`: sorts lexicographically in SQLite."""
    if not isinstance(ts, datetime):
        ts = datetime.fromtimestamp(ts, UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
