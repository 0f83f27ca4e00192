"""A budgeted call's bound: body bytes in, max-tokens out, priced with the ledger's prices."""

import gzip
import json
import time
from decimal import Decimal

import pytest
from mitmproxy.test import tflow

from aispendtrack.config import Config, parse_config
from aispendtrack.limits import budget as rules
from aispendtrack.meter.pricing import Pricer
from aispendtrack.proxy import charge
from aispendtrack.proxy.state import FlowState

CONFIG = parse_config({"prices": {"m": {"input_mtok": 1000, "output_mtok": 2000, "cache_write_mtok": 1500}}},
                      source="test")


def flow(body: bytes, **headers):
    f = tflow.tflow()
    f.request.path = "/v1/chat/completions"
    f.request.headers.update(headers)
    f.request.raw_content = body
    return f


def state():
    return FlowState("openai", "chat", "openai", time.time(), account="acme", tier="pro")


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
    assert b.charge.amount_nano >= rules.to_nano(len(body) * Decimal("0.0015"))


def test_streamed_request_body_cannot_be_bounded():
    f = flow(b"")
    f.request.raw_content = None
    b = charge.bound(f, state(), CONFIG, Pricer.with_prices(CONFIG.prices))
    assert b.charge is None and "stream_large_bodies" in b.refusal


@pytest.mark.parametrize("policy", ["refuse", "allow"])
def test_unpriced_model(policy):
    config = parse_config({"budgets": {"unpriced": policy}}, source="test")
    b = charge.bound(flow(b'{"model": "no-such-model-xyz"}'), state(), config, Pricer())
    if policy == "refuse":
        assert b.charge is None and "no-such-model-xyz" in b.refusal
    else:
        assert b.charge.amount_nano == 0


def test_tier_default_budget_rides_on_the_charge():
    config = parse_config({"tiers": {"pro": {"budget_usd": 3, "budget_period": "week"}}}, source="test")
    b = charge.bound(flow(b'{"model": "gpt-4o-mini"}'), state(), config, Pricer())
    assert b.charge.tier_budget == rules.Budget("account", "acme", 3 * rules.NANO, "week")
    assert charge.tier_budget(Config(), state()) is None
