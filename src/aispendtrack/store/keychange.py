"""Change signals every process on a SQLite database sees before its very next decision.

Next to the database file (`<db>-keys`) lies one 8-byte slot per signal (`keys`, `budgets`,
`webhooks`, `vault`). Every committed change writes a new random value into the slots of what it
changed *after* its commit; each proxy maps the file and compares the slots before deciding
on a key, which costs a memory read, no system call. A changed slot means: re-read that part
of the store (off the event loop) before answering. A torn or out-of-order write only makes a
value differ, which costs one extra re-read and never hides a change.
"""

from __future__ import annotations

import logging
import mmap
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

SIGNALS = ("keys", "budgets", "webhooks", "vault")
SLOT = 8
SIZE = SLOT * len(SIGNALS)


def signal_path(db_path: str | os.PathLike) -> Path:
    return Path(f"{db_path}-keys")


def announce(db_path: str | os.PathLike, names: Iterable[str]) -> None:
    """Tell every process on `db_path` that `names` changed (call after COMMIT)."""
    slots = [SIGNALS.index(n) for n in set(names)]
    if not slots:
        return
    try:
        fd = os.open(signal_path(db_path), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            for i in slots:
                os.pwrite(fd, secrets.token_bytes(SLOT), i * SLOT)
        finally:
            os.close(fd)
    except OSError as e:
        # Proxies still poll the store a few times a second; only exactness is lost.
        log.warning("aispendtrack: could not signal the change to running proxies: %s", e)


class Watch:
    """The reading side: `changed()` names the signals raised since its last call."""

    def __init__(self, db_path: str | os.PathLike):
        self.path = signal_path(db_path)
        self._map: mmap.mmap | None = None
        self._seen = b""

    def open(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < SIZE:
                os.pwrite(fd, bytes(SIZE - os.fstat(fd).st_size), os.fstat(fd).st_size)
            self._map = mmap.mmap(fd, SIZE, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        self._seen = self._map[:SIZE]

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None

    def forget(self, name: str) -> None:
        """Report `name` as changed again next time (a re-read after it failed)."""
        i = SIGNALS.index(name) * SLOT
        self._seen = self._seen[:i] + b"\xff" * SLOT + self._seen[i + SLOT:] if self._seen else b""

    def changed(self) -> frozenset[str]:
        if self._map is None:
            return frozenset()
        now = self._map[:SIZE]
        if now == self._seen:
            return frozenset()
        seen, self._seen = self._seen, now
        if len(seen) != SIZE:
            return frozenset(SIGNALS)
        return frozenset(n for i, n in enumerate(SIGNALS) if now[i * SLOT:(i + 1) * SLOT] != seen[i * SLOT:(i + 1) * SLOT])
