"""A budgeted call's bound: body bytes in, max-tokens out, priced with the ledger's prices."""

import gzip
import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from mitmproxy.test import tflow

from aispendtrack import meter
from aispendtrack.config import Config, parse_config
from aispendtrack.limits import budget as rules
from aispendtrack.meter.pricing import Pricer
from aispendtrack.proxy import charge
from aispendtrack.proxy.state import FlowState
from aispendtrack.store.budgets import Charge

CONFIG = parse_config({"prices": {"m": {"input_mtok": 1000, "output_mtok": 2000, "cache_write_mtok": 1500}}},
                      source="test")


STREAMED = ("AiSpendTrack cannot hold a budget for a request whose body is streamed through unread (mitmproxy"
            " option stream_large_bodies); raise that option's size")


def unpriced(model: str) -> str:
    return (f"AiSpendTrack cannot hold a budget for model {model}: it has no known price, so its cost could"
            " exceed the budget; add it under [prices] in the config, or set [budgets] unpriced = \"allow\"")


def flow(body: bytes, path="/v1/chat/completions", **headers):
    f = tflow.tflow()
    f.request.path = path
    f.request.headers.update(headers)
    f.request.raw_content = body
    return f


def state(provider="openai", start=None, tier="pro"):
    return FlowState(provider, "chat", "openai", time.time() if start is None else start, account="acme", tier=tier)


def held(pricer: Pricer, model: str, provider: str, when: datetime, input_tokens: int, output_tokens: int) -> int:
    """The reservation worked out by hand: priced as input and as cache writes, the dearer one."""
    costs = [pricer.price(meter.Metered(input_tokens=input_tokens, output_tokens=output_tokens,
                                        cache_write_tokens=write, has_usage=True),
                          model, provider, when=when).cost_usd
             for write in (None, input_tokens)]
    return rules.to_nano(max(costs))


def test_bound_is_body_bytes_and_max_tokens_at_the_dearer_input_rate():
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}).encode()
    b = charge.bound(flow(body), state(), CONFIG, Pricer.with_prices(CONFIG.prices))
    # input priced as cache writes ($1.5/1k tokens) beats plain input ($1/1k); output $2/1k
    assert b.charge.amount_nano == rules.to_nano(len(body) * Decimal("0.0015") + 10 * Decimal("0.002"))
    assert b.model == "m"


def test_compressed_body_counts_its_decoded_size():
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 5000}], "max_tokens": 1}).encode()
    b = charge.bound(flow(gzip.compress(body), **{"content-encoding": "gzip"}), state(), CONFIG,
                     Pricer.with_prices(CONFIG.prices))
    assert b.charge.amount_nano == rules.to_nano(len(body) * Decimal("0.0015") + 1 * Decimal("0.002"))


def test_compressed_body_larger_than_its_text_counts_its_raw_size():
    body = json.dumps({"model": "m", "max_tokens": 1}).encode()
    raw = gzip.compress(body)
    assert len(raw) > len(body)
    b = charge.bound(flow(raw, **{"content-encoding": "gzip"}), state(), CONFIG, Pricer.with_prices(CONFIG.prices))
    assert b.charge.amount_nano == rules.to_nano(len(raw) * Decimal("0.0015") + 1 * Decimal("0.002"))


def test_plain_input_is_held_when_cache_writes_are_cheaper_and_output_defaults_to_the_config():
    config = parse_config({"prices": {"m": {"input_mtok": 1000, "output_mtok": 2000, "cache_write_mtok": 500}},
                           "budgets": {"default_max_output_tokens": 7}}, source="test")
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    b = charge.bound(flow(body), state(), config, Pricer.with_prices(config.prices))
    assert b.charge == Charge(rules.to_nano(len(body) * Decimal("0.001") + 7 * Decimal("0.002")), None)


def test_empty_body_is_one_input_token_and_the_model_named_in_the_path():
    b = charge.bound(flow(b"", path="/v1beta/models/m:generateContent"), state(), CONFIG,
                     Pricer.with_prices(CONFIG.prices))
    assert b.model == "m"
    assert b.charge.amount_nano == rules.to_nano(1 * Decimal("0.0015") + 4096 * Decimal("0.002"))


def test_model_priced_only_under_the_calls_provider():
    pricer = Pricer()
    model = "llama-3.3-70b-versatile"
    assert pricer.lookup(model, None) is None  # known to genai-prices under groq only
    body = json.dumps({"model": model, "max_tokens": 10}).encode()
    start = datetime(2026, 11, 20, 12, tzinfo=UTC)
    b = charge.bound(flow(body), state("groq", start.timestamp()), Config(), pricer)
    assert b.charge.amount_nano == held(pricer, model, "groq", start, len(body), 10) > 0


@pytest.mark.parametrize("start, misread", [
    # before o3's price cut of 2025-06-10: not today's price
    (datetime(2025, 6, 1, 12, tzinfo=UTC), None),
    # after it, though New York's wall clock still reads 2025-06-09 22:00
    (datetime(2025, 6, 10, 2, tzinfo=UTC), datetime(2025, 6, 9, 22, tzinfo=UTC)),
])
def test_priced_at_the_calls_start_in_utc_whatever_the_local_zone(start, misread, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        pricer = Pricer()
        body = json.dumps({"model": "o3", "max_tokens": 10}).encode()
        b = charge.bound(flow(body), state(start=start.timestamp()), Config(), pricer)
        expected = held(pricer, "o3", "openai", start, len(body), 10)
        assert b.charge.amount_nano == expected
        assert expected != held(pricer, "o3", "openai", misread or datetime.now(UTC), len(body), 10)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_streamed_request_body_cannot_be_bounded():
    f = flow(b"")
    f.request.raw_content = None
    b = charge.bound(f, state(), CONFIG, Pricer.with_prices(CONFIG.prices))
    assert b == charge.Bound(None, STREAMED)


@pytest.mark.parametrize("policy", ["refuse", "allow"])
def test_unpriced_model(policy):
    config = parse_config({"budgets": {"unpriced": policy}, "tiers": {"pro": {"budget_usd": 3}}}, source="test")
    b = charge.bound(flow(b'{"model": "no-such-model-xyz"}'), state(), config, Pricer())
    if policy == "refuse":
        assert b == charge.Bound(None, unpriced("no-such-model-xyz"), "no-such-model-xyz")
    else:
        assert b == charge.Bound(Charge(0, charge.tier_budget(config, state())), model="no-such-model-xyz")
        assert b.charge.tier_budget.limit_nano == 3 * rules.NANO


def test_unpriced_call_that_names_no_model():
    b = charge.bound(flow(b"not json"), state(), Config(), Pricer())
    assert b == charge.Bound(None, unpriced("(none named)"))


def test_tier_default_budget_rides_on_the_charge():
    config = parse_config({"tiers": {"pro": {"budget_usd": 3, "budget_period": "week"}}}, source="test")
    b = charge.bound(flow(b'{"model": "gpt-4o-mini"}'), state(), config, Pricer())
    assert b.charge.tier_budget == rules.Budget("account", "acme", 3 * rules.NANO, "week")
    assert charge.tier_budget(Config(), state()) is None
    assert charge.tier_budget(config, state(tier=None)) is None  # a replayed or tierless flow
