"""Rows of the `calls` table written straight into a database, for the report's tests and
the views that must agree with it (`top`, the session summary, the fitted tables)."""

from datetime import UTC, datetime

from aispendtrack.store.db import iso

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def row(ts=T0, *, model="gpt-4o", key="key_a", account="acme", outcome="forwarded", status=200,
        cost=None, pricing=None, inp=None, out=None, cached=None, cache_write=None, reasoning=None, provider="openai"):  # fmt: skip
    if pricing is None:
        pricing = "priced" if cost is not None else None
    return {
        "ts": iso(ts), "key_id": key, "key_hint": key[-2:] if key else None, "account": account,
        "provider": provider, "api": "chat", "model": model, "status": status, "outcome": outcome,
        "input_tokens": inp, "output_tokens": out, "cache_read_tokens": cached,
        "cache_write_tokens": cache_write, "reasoning_tokens": reasoning, "cost_usd": cost, "pricing": pricing,
    }  # fmt: skip


def insert(database, rows):
    database["calls"].insert_all(rows)


MIXED = [
    row(cost="0.001", inp=100, out=10, cached=20, cache_write=0, reasoning=None),
    row(cost="0.002", inp=200, out=20, cached=0),
    row(model="claude", cost="1.5", inp=1000, out=100, cache_write=7, key="key_b", account="other", provider="anthropic"),
    row(model="mine", pricing="unpriced", inp=50, out=5),
    row(model="mine", pricing="unmetered"),  # reached upstream, no usage: unknown tokens
    row(outcome="rejected", status=401, key=None),
    row(outcome="rate_limited", status=429, pricing="unmetered"),  # not an unmetered *call*
    row(outcome="quota_exceeded", status=429),
    row(outcome="upstream_error", status=500, pricing="unmetered"),
    row(outcome="aborted", status=499, cost="0.0005", inp=10, out=1),
]
