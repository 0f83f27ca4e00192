"""Which database file the `-wal` and `-shm` next to a path belong to.

SQLite finds a database's write-ahead log by name (`<db>-wal`, `<db>-shm`), not by the
file it was made for. When the file at the path is replaced (`mv backup.db live.db`) or
removed while a connection still has the old file open, that connection keeps appending
the old file's pages to `<db>-wal` (and SQLite leaves them there when it closes a moved
file), and the next connection that opens the new file applies them to it: a corrupt
database holding old rows.

So `<db>-walowner` records the identity (device, inode) of the file the WAL is for:
- before every connection is opened (`claim`), the file is recorded; a WAL recorded as
  another file's is removed first, or, while another process still has it open, the
  database is refused (`ForeignWal`): that may be a process still on the old file, or a
  tool's session on the new one, and neither may be cut off;
- when a process lets go of a file that was replaced or removed (`release`), the old
  file's WAL is removed unless another process still has it open (then the last one does
  it), so that no tool opening the new file (a sqlite3 shell, Datasette) applies it, and
  the record is cleared.
Both run under an exclusive `flock` of the record, so one never removes a WAL another has
just claimed. "Open" is what SQLite itself checks: a lock on the `-shm`'s DMS byte.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # no flock: the record still works, without serialising claims
    fcntl = None

log = logging.getLogger(__name__)

FileId = tuple[int, int]
SUFFIX = "-walowner"
DMS_BYTE = 128  # SQLite's unix VFS: every connection using the -shm holds a read lock here


class ForeignWal(Exception):
    """Another file's `-wal`/`-shm`, still open in another process, lie next to the database."""


def file_id(path: str | os.PathLike) -> FileId | None:
    """(device, inode) of the file at `path`, None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def owner_path(db_path: str | os.PathLike) -> Path:
    return Path(f"{db_path}{SUFFIX}")


def read_owner(db_path: str | os.PathLike) -> FileId | None:
    """The recorded identity; None when there is none (a database from before the record, a
    cleared or unreadable record: all mean "unknown", never "another file")."""
    try:
        dev, ino = owner_path(db_path).read_text(encoding="ascii").split()
        return int(dev), int(ino)
    except (OSError, ValueError):
        return None


def claim(db_path: str | os.PathLike, fid: FileId) -> None:
    """Record that the WAL next to `db_path` is `fid`'s, removing another file's first."""
    if read_owner(db_path) == fid:  # the common case: no lock, no write
        return
    try:
        with _locked(db_path) as fd:
            owner = _read(fd)
            if owner == fid:
                return
            if owner is not None and not _remove_unused(db_path):
                raise ForeignWal(
                    f"{db_path}-wal belongs to the file that was at this path before it was replaced or removed, "
                    f"and another process still has it open; stop every process that uses {db_path} (proxy, "
                    f"serve, top, sqlite3 shells, Datasette), then start again")
            _write(fd, f"{fid[0]} {fid[1]}\n")
    except OSError as e:  # a read-only folder: SQLite cannot keep a WAL there either
        log.debug("aispendtrack: cannot record the WAL owner of %s: %s", db_path, e)


def release(db_path: str | os.PathLike, fid: FileId) -> None:
    """The file `fid` is no longer at `db_path`: remove its WAL unless another process still
    has it open (the last one to let go does it, or the next `claim`), and clear the record."""
    try:
        with _locked(db_path) as fd:
            if _read(fd) == fid and _remove_unused(db_path):
                _write(fd, "")
    except OSError as e:
        log.warning("aispendtrack: could not remove the old WAL next to %s: %s", db_path, e)


def _remove_unused(db_path: str | os.PathLike) -> bool:
    """Remove `-wal` and `-shm` unless another process has the `-shm` open; whether they are gone.

    The probe's lock is held while they are removed, so no process attaches meanwhile.
    Closing it drops this process's own locks on that `-shm`: only ever done for a file this
    process no longer uses, or has not opened yet."""
    try:
        shm = os.open(f"{db_path}-shm", os.O_RDWR)
    except FileNotFoundError:
        shm = None
    try:
        if shm is not None and fcntl is not None:
            try:
                fcntl.lockf(shm, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, DMS_BYTE)
            except OSError:
                return False
        removed = []
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{db_path}{suffix}")
                removed.append(f"{db_path}{suffix}")
        if removed:
            log.warning("AiSpendTrack: removed %s: they belonged to the file that was at %s before it was "
                        "replaced or removed", " and ".join(removed), db_path)
        return True
    finally:
        if shm is not None:
            os.close(shm)


@contextlib.contextmanager
def _locked(db_path: str | os.PathLike) -> Iterator[int]:
    fd = os.open(owner_path(db_path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the flock


def _read(fd: int) -> FileId | None:
    try:
        dev, ino = os.pread(fd, 64, 0).decode("ascii").split()
        return int(dev), int(ino)
    except ValueError:
        return None


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode("ascii"), 0)
