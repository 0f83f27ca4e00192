"""A ledger row as the proxy hands it to the store writer, a plain read of the file it wrote,
and stores whose file cannot be opened or waits for another connection's lock."""

import os
import sqlite3
import time
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


def last_id(path) -> int:
    """The id of the newest ledger row of the file (0 for none): a watermark for `rows_after`."""
    with sqlite3.connect(path) as c:
        return c.execute("SELECT coalesce(max(id), 0) FROM calls").fetchone()[0]


def rows_after(path, mark: int, n: int = 1, timeout: float = 10) -> list[dict]:
    """The n rows written after `mark`, waiting up to `timeout` for them (a row can be
    committed just after the client saw the end of its call: error hooks run later)."""
    deadline = time.time() + timeout
    while True:
        with sqlite3.connect(path) as c:
            c.row_factory = sqlite3.Row
            rows = [dict(r) for r in c.execute("SELECT * FROM calls WHERE id > ? ORDER BY id", (mark,))]
        if len(rows) >= n or time.time() > deadline:
            assert len(rows) == n, rows
            return rows
        time.sleep(0.05)
