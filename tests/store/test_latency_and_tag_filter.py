"""Latency percentiles (`views.latency`, nearest rank) and the tag filter on both engines:
the store returns each group's sorted durations (answered calls only; first byte of streams
only) and the reads keep only the tagged calls, with the same numbers on SQLite and
PostgreSQL."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from aispendtrack.views.export import export_rows
from aispendtrack.views.latency import Latency, latency_by, latency_groups, percentile
from aispendtrack.views.report import report

T = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SINCE, UNTIL = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("values, p50, p95", [
    ([], None, None), ([7.0], 7.0, 7.0), ([1.0, 2.0], 1.0, 2.0), ([1.0, 2.0, 3.0, 4.0], 2.0, 4.0),
    ([float(i) for i in range(1, 21)], 10.0, 19.0), ([float(i) for i in range(1, 101)], 50.0, 95.0),
    ([float(i) for i in range(1, 102)], 51.0, 96.0),
])
def test_nearest_rank(values, p50, p95):
    assert (percentile(values, 50), percentile(values, 95)) == (p50, p95)


def _rows():
    """gpt-4o: 20 answered calls (latency 100..2000 ms, streams every other one with ttfb
    = latency / 10), a refused and a failed call (not counted); claude: 3 calls; tags on some."""
    rows = []
    for i in range(1, 21):
        rows.append({"ts": T + timedelta(seconds=i), "key_id": "key_a", "account": "acme", "provider": "openai",
                     "model": "gpt-4o", "outcome": "forwarded", "status": 200, "cost_usd": "0.5", "pricing": "priced",
                     "latency_ms": 100.0 * i, "streamed": i % 2 == 0, "ttfb_ms": 10.0 * i if i % 2 == 0 else None,
                     "tags": {"feature": "search" if i <= 5 else "chat"}})
    for outcome, status in (("rate_limited", 429), ("upstream_error", 502)):
        rows.append({"ts": T, "key_id": "key_a", "account": "acme", "provider": "openai", "model": "gpt-4o",
                     "outcome": outcome, "status": status, "latency_ms": 99999.0, "tags": {"feature": "search"}})
    for i, ms in enumerate((250.5, 40.25, 3000.0)):
        rows.append({"ts": T + timedelta(minutes=i), "key_id": "key_b", "account": "acme", "provider": "anthropic",
                     "model": "claude", "outcome": "forwarded", "status": 200, "cost_usd": "1", "pricing": "priced",
                     "latency_ms": ms, "streamed": True, "ttfb_ms": ms / 2})
    rows.append({"ts": T, "key_id": "key_x", "account": "other", "provider": "openai", "model": "gpt-4o",
                 "outcome": "forwarded", "status": 200, "latency_ms": 1.0, "tags": {"feature": "search"}})
    return rows


@pytest.fixture
def ledger(any_store):
    any_store.record(_rows())
    return any_store


def test_latency_per_model_and_in_all(ledger):
    rep = report(ledger, since=SINCE, until=UNTIL, by="model", account="acme", latency=True)
    assert rep.group_latency("gpt-4o") == Latency(20, 1000.0, 1900.0, 10, 100.0, 200.0)
    assert rep.group_latency("claude") == Latency(3, 250.5, 3000.0, 3, 125.25, 1500.0)
    every = sorted([100.0 * i for i in range(1, 21)] + [250.5, 40.25, 3000.0])
    ttfb = sorted([10.0 * i for i in range(2, 21, 2)] + [125.25, 20.125, 1500.0])
    assert rep.latency_total == Latency(23, percentile(every, 50), percentile(every, 95), 13,
                                        percentile(ttfb, 50), percentile(ttfb, 95))
    doc = rep.to_dict()
    assert doc["latency"]["p95_ms"] == 2000.0 and doc["groups"][0]["latency"]["calls"] in (20, 3)


def test_latency_per_key_per_tag_and_filtered(ledger):
    by_key = report(ledger, since=SINCE, until=UNTIL, by="key", account="acme", latency=True)
    assert by_key.group_latency("key_b").p50_ms == 250.5
    by_tag = report(ledger, since=SINCE, until=UNTIL, by="tag:feature", account="acme", latency=True)
    assert by_tag.group_latency("search") == Latency(5, 300.0, 500.0, 2, 20.0, 40.0)
    assert by_tag.group_latency(None).calls == 3  # claude's untagged calls
    only = report(ledger, since=SINCE, until=UNTIL, by="model", account="acme", tag=("feature", "search"), latency=True)
    assert only.latency_total == Latency(5, 300.0, 500.0, 2, 20.0, 40.0)
    assert report(ledger, since=SINCE, until=UNTIL, by="model", key="key_b", latency=True).latency_total.calls == 3


def test_the_tag_filter_keeps_only_tagged_calls(ledger):
    rep = report(ledger, since=SINCE, until=UNTIL, by="model", account="acme", tag=("feature", "search"))
    assert (rep.totals.calls, rep.totals.cost_usd, rep.totals.rate_limited) == (7, Decimal("2.5"), 1)
    assert rep.filters == {"account": "acme", "tag": "feature=search"}
    assert report(ledger, since=SINCE, until=UNTIL, by="model", tag=("feature", "search")).totals.calls == 8
    assert report(ledger, since=SINCE, until=UNTIL, account="acme", tag=("feature", "nothing")).totals.calls == 0
    exported = list(export_rows(ledger, since=SINCE, until=UNTIL, account="acme", tag=("feature", "chat")))
    assert len(exported) == 15 and all(r["tags"] == {"feature": "chat"} for r in exported)
    latest = ledger.latest_calls(50, account="acme", tag=("feature", "search"))
    assert len(latest) == 7 and all(c.model == "gpt-4o" for c in latest)
    assert [c.ts for c in ledger.latest_calls(50, account="acme", until=T + timedelta(seconds=3))] == sorted(
        [c.ts for c in ledger.latest_calls(50, account="acme") if c.ts < "2026-11-26T09:00:03"], reverse=True)


def test_a_tag_filter_with_a_bad_name_is_refused(ledger):
    with pytest.raises(ValueError, match="tag name"):
        report(ledger, since=SINCE, until=UNTIL, tag=("a'b", "x"))


def test_one_read_for_several_dimensions_gives_what_one_read_each_does(ledger):
    dims = ("model", "key", "tag:feature", "day", "member")
    together = latency_by(ledger, dims, since=SINCE, until=UNTIL, account="acme")
    for by in dims:
        assert together[by] == latency_groups(ledger, by=by, since=SINCE, until=UNTIL, account="acme"), by
    assert set(together["day"][0]) == {"2026-11-26"}
