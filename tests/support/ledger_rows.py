"""A ledger row as the proxy hands it to `LedgerWriter`, and a plain read of the file it wrote."""

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal


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
