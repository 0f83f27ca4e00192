"""`backup(db_path, dest)`: a consistent copy of the database while the proxy and serve run.

SQLite's online backup API copies every page in one read transaction: in WAL mode a reader
neither blocks the writers nor waits for them, and the copy holds exactly the transactions
committed before it began. The copy is written next to `dest` under a temporary name
(readable by its owner only: it holds what the database holds), checked, made a
self-contained file (rollback journal: no `-wal` to carry along), synced, and only then
given its name, so `dest` is never a half-written file.

SQLite only: a PostgreSQL store is backed up with PostgreSQL's own tools (`pg_dump`), and
asking for it here is refused with that advice before anything is written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aispendtrack.store import db as dbmod
from aispendtrack.store import describe_target, is_url


class BackupError(Exception):
    """The backup was not made (the message says why and names the file)."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int  # bytes
    started: datetime  # every transaction committed before this moment is in the copy


def backup(db_path: str | Path, dest: str | Path, *, force: bool = False) -> Backup:
    if is_url(db_path):
        raise BackupError(
            f"{describe_target(db_path)} is a PostgreSQL database: `aispendtrack backup` copies a SQLite "
            f"file. Back PostgreSQL up with its own tools, e.g. pg_dump --format=custom --file={dest} "
            f"'<the database URL>' (restore with pg_restore)")
    db_path, dest = Path(db_path), Path(dest)
    _check_destination(db_path, dest, force)
    if not db_path.is_file():
        raise BackupError(f"database {db_path} not found")
    tmp = _temporary(dest)
    try:
        source = dbmod.connect(db_path)
        try:
            copy = dbmod.open_copy(tmp)
            try:
                started = dbmod.utcnow()
                source.conn.backup(copy)  # all pages in one step: one snapshot
                copy.execute("PRAGMA journal_mode=DELETE")
                check = copy.execute("PRAGMA quick_check").fetchall()
                if check != [("ok",)]:
                    raise BackupError(f"the copy of {db_path} failed its check: {check[:3]}")
            finally:
                copy.close()
        finally:
            source.conn.close()
        _sync(tmp)
        _put(tmp, dest, force)
    except dbmod.DatabaseError as e:
        raise BackupError(str(e)) from None
    except OSError as e:
        raise BackupError(f"cannot write {dest}: {e.strerror or e}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return Backup(dest, dest.stat().st_size, started)


def _check_destination(db_path: Path, dest: Path, force: bool) -> None:
    if dest.is_dir():
        raise BackupError(f"{dest} is a folder; name the backup file, e.g. {dest / 'aispendtrack-backup.db'}")
    if not dest.parent.is_dir():
        raise BackupError(f"folder {dest.parent} does not exist")
    if dest.exists():
        if db_path.exists() and os.path.samefile(db_path, dest):
            raise BackupError(f"{dest} is the database itself; name another file")
        if not force:
            raise BackupError(f"{dest} exists; pass --force to overwrite it")
    leftovers = [f"{dest}{s}" for s in ("-wal", "-shm") if os.path.exists(f"{dest}{s}")]
    if leftovers:
        raise BackupError(f"{' and '.join(leftovers)} {'exist' if len(leftovers) > 1 else 'exists'}: {dest} is "
                          f"a database in use, or one left by a killed process; stop what uses it, or remove "
                          f"{'them' if len(leftovers) > 1 else 'it'}, or name another file")


def _temporary(dest: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)  # mode 0600
    os.close(fd)
    return Path(name)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _put(tmp: Path, dest: Path, force: bool) -> None:
    """Give the finished copy its name: replacing `dest` only with `force`, else never
    clobbering a file that appeared meanwhile (the name is claimed first)."""
    if not force:
        try:
            os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise BackupError(f"{dest} exists; pass --force to overwrite it") from None
    os.replace(tmp, dest)
    fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the name itself survives a power loss
    finally:
        os.close(fd)
