"""`report`: latency percentiles (nearest rank) per group in the table and in `--json`, and
`--tag NAME=VALUE` keeping only the tagged calls."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from aispendtrack.store import open_store

T = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
PERIOD = ("--since", "2026-11-01", "--until", "2026-11-30")


@pytest.fixture
def ledger(run):
    run("accounts", "create", "acme")
    with open_store(run.db) as store:
        store.record([{"ts": T + timedelta(seconds=i), "key_id": "key_a", "account": "acme", "provider": "openai",
                       "model": "gpt-4o" if i < 10 else "claude-haiku", "outcome": "forwarded", "status": 200,
                       "cost_usd": "0.25", "pricing": "priced", "latency_ms": 120.0 * (i + 1),
                       "streamed": i % 2 == 1, "ttfb_ms": 11.0 * i if i % 2 else None,
                       "tags": {"feature": "search" if i % 3 == 0 else "chat"}} for i in range(14)])


def test_the_table_and_json_carry_latency(run, ledger, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    doc = json.loads(run("report", "--json", *PERIOD).output)
    gpt = next(g for g in doc["groups"] if g["key"] == "gpt-4o")["latency"]
    assert gpt == {"calls": 10, "p50_ms": 600.0, "p95_ms": 1200.0, "streams": 5, "ttfb_p50_ms": 55.0,
                   "ttfb_p95_ms": 99.0}
    assert doc["latency"]["calls"] == 14 and doc["latency"]["p95_ms"] == 1680.0
    text = run("report", *PERIOD).output
    assert "latency by model" in text and "nearest-rank" in text
    line = next(line for line in text.splitlines() if line.startswith("gpt-4o") and "ms" in line)
    assert line.split()[1:] == ["10", "600", "ms", "1.20", "s", "5", "55", "ms", "99", "ms"]


def test_tag_filter(run, ledger):
    doc = json.loads(run("report", "--json", "--tag", "feature=search", *PERIOD).output)
    assert (doc["totals"]["calls"], doc["totals"]["cost_usd"], doc["filters"]) == (5, "1.25", {"tag": "feature=search"})
    assert doc["latency"]["calls"] == 5
    out = run("report", "--tag", "feature", ok=False).output
    assert "--tag: write NAME=VALUE" in out
