"""A store to read from, on SQLite or on a real PostgreSQL, and ledger rows written into it
as the ledger writer writes them (the rows and their daily sums in one transaction).

`store` is a fresh SQLite store; `any_store` is parametrised over both engines (the
PostgreSQL server starts once per run, a database per test: tests/engines.py). Import the
fixtures into a test module to use them."""

from __future__ import annotations

from datetime import UTC, datetime


from aispendtrack.store import open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.db import iso
from aispendtrack.store.reads import daily
from aispendtrack.store.reads.legacy import as_store
from engines import target_of

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


def insert(store, rows, *, validate: bool = True) -> None:
    """Write ledger rows and add them to the daily sums in one transaction, as the ledger
    writer does (`validate=False`: rows as an older release could have stored them).
    `store` may still be a sqlite_utils database of a caller not yet on the store."""
    if validate:
        as_store(store).record([dict(r) for r in rows])
        return
    db_rows = [dict(r) for r in rows]
    with as_store(store).connection() as conn, conn.tx():
        for r in db_rows:
            conn.insert(f"INSERT INTO calls ({', '.join(r)}) VALUES ({', '.join('?' * len(r))})", list(r.values()))
        daily.add_rows(conn, db_rows)


def open_engine(engine: str, tmp_path):
    """A fresh store of `engine` ("sqlite" or "postgres"), for tests that choose it themselves."""
    return open_store(target_of(engine, tmp_path))


def admit(store, key_id: str, account: str, *, hourly: int | None, monthly: int | None, now: float):
    """Admit one request through the limiter (its counters are what the views read)."""
    return store.admit(Admission(key_id, account, hourly, monthly, now))
