"""A ledger row as the proxy hands it to the store writer, a plain read of the file it wrote,
and stores whose file cannot be opened or waits for another connection's lock."""

import os
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

from aispendtrack.store import db as dbmod
from aispendtrack.store import open_store


def make_row(**over):
    row = {
        "ts": datetime(2026, 11, 26, 9, 12, 27, 123456, tzinfo=UTC),
        "flow_id": "flow-1",
        "key_id": "key_0123456789ab",
        "account": "acme",
        "provider": "openai",
        "api": "chat",
        "model": "gpt-4o-mini",
        "status": 200,
        "outcome": "forwarded",
        "streamed": True,
        "partial": False,
        "input_tokens": 120,
        "output_tokens": 30,
        "usage_json": {"prompt_tokens": 120, "completion_tokens": 30},
        "cost_usd": Decimal("0.000036"),
        "pricing": "priced",
    }
    row.update(over)
    return row


def read(path, sql, params=()):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def unusable(path):
    """A store opened at `path` (on this thread), after which the path names a directory: a
    new thread's connection cannot be opened."""
    store = open_store(path)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.remove(f"{path}{suffix}")
    path.mkdir()
    return store


def waiting(db_path, monkeypatch, seconds):
    """A store whose connections wait `seconds` for another connection's write lock."""
    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_MS", round(seconds * 1000))
    return open_store(db_path)
