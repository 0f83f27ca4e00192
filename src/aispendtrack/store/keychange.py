"""A key-store change signal every proxy on the database sees on its very next request.

Next to the database file (`<db>-keys`) lies an 8-byte counter. Every committed key-store
change (create, rotate, revoke, tier change) writes a new value there *after* its commit;
each proxy maps the file and compares the value before deciding on a key, which costs a
memory read, no system call. A changed value means: re-read the key store (off the event
loop) before answering. Any torn or out-of-order write only makes a value differ, which
costs one extra re-read and never hides a change.
"""

from __future__ import annotations

import logging
import mmap
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

SIZE = 8


def signal_path(db_path: str | os.PathLike) -> Path:
    return Path(f"{db_path}-keys")


def _db_file(database) -> str | None:
    rows = database.execute("PRAGMA database_list").fetchall()
    return next((r[2] for r in rows if r[1] == "main" and r[2]), None)


def announce(database) -> None:
    """Tell running proxies that the key store changed (call after COMMIT)."""
    path = _db_file(database)
    if path is None:  # in-memory database: no proxy can share it
        return
    try:
        fd = os.open(signal_path(path), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, secrets.token_bytes(SIZE), 0)
        finally:
            os.close(fd)
    except OSError as e:
        # Proxies still poll the store a few times a second; only exactness is lost.
        log.warning("aispendtrack: could not signal the key change to running proxies: %s", e)


class Watch:
    """The proxy side: `changed()` is True once after each announced change."""

    def __init__(self, db_path: str | os.PathLike):
        self.path = signal_path(db_path)
        self._map: mmap.mmap | None = None
        self._seen = b""

    def open(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < SIZE:
                os.pwrite(fd, bytes(SIZE), 0)
            self._map = mmap.mmap(fd, SIZE, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        self._seen = self._map[:SIZE]

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def forget(self) -> None:
        """Report the current value as a change again (a re-read after it failed)."""
        self._seen = b""

    def changed(self) -> bool:
        if self._map is None:
            return False
        now = self._map[:SIZE]
        if now == self._seen:
            return False
        self._seen = now
        return True
