"""The ledger table: one row per provider-bound flow. Documented in README ("Ledger schema").

Kept apart from the writer so the CLI, reports and tests share one definition.
"""

from __future__ import annotations

import sqlite_utils

CALLS_COLUMNS: dict[str, type] = {
    "id": int,
    "ts": str,  # ISO 8601 UTC, request start
    "flow_id": str,
    "key_id": str,
    "key_hint": str,
    "account": str,
    "provider": str,
    "api": str,
    "model": str,  # served model, else the requested one
    "request_model": str,
    "method": str,
    "path": str,  # never the query string: Gemini puts API keys there
    "status": int,  # HTTP status sent to the client
    "outcome": str,
    "streamed": int,
    "partial": int,
    "input_tokens": int,  # total input, cache reads and writes included
    "output_tokens": int,  # reasoning included
    "cache_read_tokens": int,
    "cache_write_tokens": int,
    "reasoning_tokens": int,
    "usage_json": str,
    "cost_usd": str,  # decimal text; NULL unless priced
    "pricing": str,  # priced | unpriced | unmetered
    "cost_source": str,  # genai-prices | provider | override
    "latency_ms": float,
    "ttfb_ms": float,
    "error": str,
}

OUTCOMES = ("forwarded", "rejected", "rate_limited", "quota_exceeded", "upstream_error", "aborted")
PRICING = ("priced", "unpriced", "unmetered")

# Indexes match the report/export queries: time ranges, optionally per key/account/model.
INDEXES = [
    ["ts"],
    ["key_id", "ts"],
    ["account", "ts"],
    ["model", "ts"],
]


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the `calls` table and its indexes if missing (idempotent, safe across processes)."""
    calls = db["calls"]
    if not calls.exists():
        db.execute("BEGIN IMMEDIATE")
        try:
            if not db["calls"].exists():
                db["calls"].create(CALLS_COLUMNS, pk="id", not_null={"ts", "outcome"})
                for cols in INDEXES:
                    db["calls"].create_index(cols, if_not_exists=True)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
