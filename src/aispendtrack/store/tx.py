"""One write transaction of the key store (accounts, keys, members, webhooks)."""

from __future__ import annotations

import sqlite_utils

from aispendtrack.store import keychange


class KeyStoreError(Exception):
    """An operator error with a message fit for the terminal (unknown account, tier cap, …)."""


def _bump_version(db: sqlite_utils.Database) -> None:
    db.execute(
        "INSERT INTO meta(name, value) VALUES ('keys_version', '1') "
        "ON CONFLICT(name) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
    )


class Tx:
    """BEGIN IMMEDIATE … COMMIT: cap checks, inserts and their outbox events are one step
    across processes; running proxies learn of the change after COMMIT."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def __enter__(self) -> sqlite_utils.Database:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            _bump_version(self.db)
            self.db.execute("COMMIT")
            keychange.announce(self.db)
        elif self.db.conn.in_transaction:  # SQLite may have rolled back already (disk full, I/O error)
            self.db.execute("ROLLBACK")
