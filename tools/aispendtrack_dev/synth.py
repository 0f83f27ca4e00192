"""Synthetic ledgers for benchmarks and demos: `make_ledger(store, n_rows, seed)`.

Rows look like what the metering addon writes: a mix of providers and models, keys in a
few accounts, mostly forwarded calls with some 401s, 429s and upstream errors, unknown
token counts as NULL, unpriced and unmetered rows with `cost_usd` NULL, and costs as
decimal strings with many significant digits (so float sums would be inexact). Each batch
is written as the ledger writer writes it: the rows and their daily sums in one transaction.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aispendtrack.store.base import SqlStore
from aispendtrack.store.db import iso
from aispendtrack.store.ledger_schema import CALLS_COLUMNS, Outcome
from aispendtrack.store.migrate import migrate
from aispendtrack.store.reads import daily
from aispendtrack.store.reads.legacy import as_store
from aispendtrack.store.sqlite.schema import MIGRATIONS

# model -> (provider, api, $ per input token, $ per output token); None = not in the price list
MODELS: dict[str, tuple[str, str, Decimal | None, Decimal | None]] = {
    "gpt-4o-mini": ("openai", "chat", Decimal("0.00000015"), Decimal("0.0000006")),
    "gpt-4o": ("openai", "chat", Decimal("0.0000025"), Decimal("0.00001")),
    "o3-mini": ("openai", "responses", Decimal("0.0000011"), Decimal("0.0000044")),
    "text-embedding-3-small": ("openai", "embeddings", Decimal("0.00000002"), Decimal(0)),
    "claude-sonnet-4-5": ("anthropic", "messages", Decimal("0.000003"), Decimal("0.000015")),
    "claude-haiku-4-5": ("anthropic", "messages", Decimal("0.000001"), Decimal("0.000005")),
    "gemini-2.5-flash": ("google", "generate", Decimal("0.0000003"), Decimal("0.0000025")),
    "llama-3.3-70b-versatile": ("groq", "chat", Decimal("0.00000059"), Decimal("0.00000079")),
    "my-finetune-v7": ("openai", "chat", None, None),  # unpriced
}
OUTCOMES = [  # (outcome, status, weight)
    (Outcome.FORWARDED, 200, 900),
    (Outcome.REJECTED, 401, 15),
    (Outcome.RATE_LIMITED, 429, 40),
    (Outcome.QUOTA_EXCEEDED, 429, 5),
    (Outcome.UPSTREAM_ERROR, 500, 25),
    (Outcome.ABORTED, 499, 15),
]
_INSERT_COLS = [c for c in CALLS_COLUMNS if c not in ("id", "usage_json", "error", "reservation_id", "tags",
                                                      "batch_key", "batch_requests")]


def make_ledger(
    db,
    n_rows: int,
    seed: int = 0,
    *,
    start: datetime | None = None,
    days: int = 45,
    n_keys: int = 24,
    batch: int = 20_000,
) -> None:
    """Append `n_rows` synthetic calls spread over `days` days from `start` (default: `days`
    before now) to a store (or a SQLite database, brought to the current schema)."""
    store = as_store(db)
    if not isinstance(db, SqlStore):
        with store.connection() as conn:
            migrate(conn, MIGRATIONS)
    rng = random.Random(seed)
    start = start or datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
    span_us = days * 86_400 * 1_000_000
    keys = [(f"key_{rng.getrandbits(48):012x}", f"acct-{i % 5}") for i in range(n_keys)]
    models = list(MODELS)
    model_weights = [30, 10, 8, 6, 12, 10, 10, 6, 2]
    outcomes = [o[:2] for o in OUTCOMES]
    outcome_weights = [o[2] for o in OUTCOMES]
    # offsets sorted so ids follow time, as in a real ledger
    offsets = sorted(rng.randrange(span_us) for _ in range(n_rows))
    sql = f"INSERT INTO calls ({', '.join(_INSERT_COLS)}) VALUES ({', '.join('?' * len(_INSERT_COLS))})"
    rows = []
    for i, off in enumerate(offsets):
        key_id, account = keys[rng.randrange(n_keys)]
        model = rng.choices(models, model_weights)[0]
        provider, api, p_in, p_out = MODELS[model]
        outcome, status = rng.choices(outcomes, outcome_weights)[0]
        ts = iso(start + timedelta(microseconds=off))
        tokens = [None] * 5  # input, output, cache_read, cache_write, reasoning
        cost = pricing = source = None
        if outcome in ("forwarded", "aborted"):
            pricing = "unmetered" if rng.random() < 0.01 else "priced" if p_in is not None else "unpriced"
            if pricing != "unmetered":
                inp, out = rng.randrange(5, 30_000), rng.randrange(0, 4_000)
                cache_read = rng.randrange(0, inp) if rng.random() < 0.3 else 0
                reasoning = rng.randrange(0, out + 1) if api == "responses" else None
                cache_write = rng.randrange(0, 2_000) if provider == "anthropic" else None
                tokens = [inp, out, cache_read, cache_write, reasoning]
                if pricing == "priced":
                    c = (inp - cache_read) * p_in + cache_read * p_in / 10 + out * p_out
                    cost, source = format(c.normalize(), "f"), "genai-prices"
        rows.append((
            ts, f"flow-{seed}-{i}", key_id, key_id[-4:], account, provider, api, model, model,
            "POST", f"/v1/{api}", status, outcome, int(rng.random() < 0.4), 0, *tokens,
            cost, pricing, source, rng.uniform(50, 9000), rng.uniform(20, 900),
        ))  # fmt: skip
        if len(rows) >= batch:
            _write(store, sql, rows)
            rows.clear()
    _write(store, sql, rows)


def _write(store, sql: str, rows: list[tuple]) -> None:
    with store.connection() as conn, conn.tx():
        conn.executemany(sql, rows)
        daily.add_rows(conn, [dict(zip(_INSERT_COLS, r)) for r in rows])
