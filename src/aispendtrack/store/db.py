"""One SQLite file holds the key store, the limit counters and the ledger.

Every connection is opened by `connect()`, the same way: WAL (readers never block the
writer, several proxy processes share one file), a busy timeout instead of instant
`database is locked`, and `synchronous=NORMAL`, which in WAL mode is still durable across a
process crash (kill -9); only a power loss can drop the last commits. It also knows which
file it opened (device, inode) and refuses a file whose `-wal` is another file's (see
`walowner.py`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from aispendtrack.store import walowner
from aispendtrack.store.walowner import FileId, file_id

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


class DatabaseLost(sqlite3.OperationalError):
    """The file a process works on was replaced or removed at its path while it ran."""


class Database(sqlite_utils.Database):
    """A `sqlite_utils.Database` that knows which file it was opened on."""

    file_id: FileId | None = None


def connect(path: str | Path, *, check_same_thread: bool = True, expect: FileId | None = None) -> Database:
    """Open the database at `path`, configured for shared use: creating it if needed, or,
    with `expect`, only if `path` still names that file (else `DatabaseLost`, nothing created).
    Raises `DatabaseError` naming the file when it cannot be opened."""
    path = Path(path)
    try:
        fid = _existing(path, expect)
        walowner.claim(path, fid)
        conn = sqlite3.connect(
            str(path),
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=check_same_thread,
            isolation_level=None,  # autocommit; explicit BEGIN where atomicity matters
        )
    except DatabaseLost:
        raise
    except (sqlite3.Error, OSError, walowner.ForeignWal) as e:
        raise DatabaseError(f"cannot open database {path}: {e}") from e
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        if file_id(path) != fid:  # the path changed while it was being opened: which file we have is unknown
            raise DatabaseLost(f"database file {path} was replaced while it was being opened")
    except BaseException as e:
        conn.close()
        if isinstance(e, sqlite3.Error) and not isinstance(e, DatabaseLost):
            raise DatabaseError(f"cannot open database {path}: {e}") from e
        raise
    database = Database(conn)
    database.file_id = fid
    return database


def open_copy(path: str | Path) -> sqlite3.Connection:
    """A connection to a file that is not the shared database but a copy being written
    (`backup`): private to its writer, so no WAL, no busy wait, no identity to keep."""
    try:
        return sqlite3.connect(str(path), isolation_level=None)
    except sqlite3.Error as e:
        raise DatabaseError(f"cannot open {path}: {e}") from e


def _existing(path: Path, expect: FileId | None) -> FileId:
    """The identity of the file at `path`, created empty (a valid empty database) when
    there is none and nothing is expected there."""
    fid = file_id(path)
    if expect is not None and fid != expect:
        raise DatabaseLost(f"database file {path} was {'removed' if fid is None else 'replaced'}")
    if fid is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
        fid = file_id(path)
        if fid is None:
            raise FileNotFoundError(f"{path} vanished as it was created")
    return fid


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
