"""What the Pricer caches (lookups per snapshot, one plan per price table) and its slow path.

Fresher prices arrive as a swapped genai-prices snapshot (`set_custom_snapshot`, what
`aispendtrack_price_updates` does); the tests build small ones to see what is asked of them.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from genai_prices import types as gp
from genai_prices.data_snapshot import DataSnapshot, get_snapshot, set_custom_snapshot

from aispendtrack.meter import Metered, pricing
from aispendtrack.meter.pricing import Priced, Pricer

WHEN = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def metered(**counts) -> Metered:
    return Metered(has_usage=True, details=dict(counts), **{k: v for k, v in counts.items() if k in (
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")})


def model(model_id: str, prices) -> gp.ModelInfo:
    return gp.ModelInfo(id=model_id, match=gp.ClauseEquals(equals=model_id), prices=prices)


def snapshot(*models: gp.ModelInfo) -> DataSnapshot:
    """Provider `openai` with these models; model-only lookups find its `gpt*` models."""
    return DataSnapshot(providers=[gp.Provider(id="openai", name="OpenAI", api_pattern="openai",
                                               model_match=gp.ClauseStartsWith(starts_with="gpt"),
                                               models=list(models))], from_auto_update=True)


@pytest.fixture
def swap():
    """Install a snapshot; the bundled one is back after the test."""
    yield set_custom_snapshot
    set_custom_snapshot(None)


def counting(snap: DataSnapshot) -> list:
    calls, find = [], snap.find_provider_model

    def find_counted(*args):
        calls.append(args)
        return find(*args)

    snap.find_provider_model = find_counted
    return calls


CHEAP_GPT = model("gpt-4o", gp.ModelPrice(input_mtok=Decimal(7), output_mtok=Decimal(0)))


def test_a_swapped_snapshot_is_used_at_once_and_the_old_lookups_forgotten(swap):
    pricer, m = Pricer(), metered(input_tokens=1_000_000)
    bundled = pricer.price(m, "gpt-4o", "openai", when=WHEN)
    assert bundled.cost_usd != Decimal(7)
    swap(snapshot(CHEAP_GPT))
    assert pricer.price(m, "gpt-4o", "openai", when=WHEN) == Priced(Decimal(7), "priced", "genai-prices", "gpt-4o")
    swap(None)  # back to the bundled prices: not the swapped snapshot's cached lookup
    assert pricer.price(m, "gpt-4o", "openai", when=WHEN) == bundled


def test_each_lookup_is_asked_of_the_snapshot_once(swap):
    pricer = Pricer()  # made before the swap
    snap = snapshot(CHEAP_GPT)
    calls = counting(snap)
    swap(snap)
    found = pricer.lookup("gpt-4o", "openai")
    assert found == (snap.providers[0], CHEAP_GPT)
    assert pricer.lookup("nope-model", "openai") is None
    assert pricer.lookup("GPT-4o", "OpenAI") is found  # cached, case-insensitively
    assert pricer.lookup("gpt-4o", "openai") is found and pricer.lookup("nope-model", "openai") is None
    assert pricer.lookup("gpt-4o", None) == found
    assert calls == [("gpt-4o", None, "openai", None),
                     ("nope-model", None, "openai", None), ("nope-model", None, None, None),
                     ("gpt-4o", None, None, None)]


def test_one_plan_per_price_table_and_ordinary_usage_never_takes_the_slow_path(monkeypatch):
    plans = []

    def plan_counted(model_price):
        plans.append(model_price)
        return plan(model_price)

    def slow(*args, **kwargs):
        raise AssertionError("genai-prices' calc_price called")

    plan = pricing._plan
    monkeypatch.setattr(pricing, "_plan", plan_counted)
    monkeypatch.setattr(gp.ModelInfo, "calc_price", slow)
    pricer, m = Pricer(), metered(input_tokens=1200, output_tokens=300, cache_read_tokens=1024)
    first = pricer.price(m, "gpt-4o", "openai", when=WHEN)
    assert pricer.price(m, "gpt-4o", "openai", when=WHEN) == first
    assert pricer.price(m, "claude-sonnet-4-20250514", "anthropic", when=WHEN).pricing == "priced"
    assert pricer.price(m, "gpt-4o", "openai", when=WHEN) == first
    _, gpt = get_snapshot().find_provider_model("gpt-4o", None, "openai", None)
    assert first == Priced((176 * gpt.get_prices(WHEN).input_mtok + 1024 * gpt.get_prices(WHEN).cache_read_mtok
                            + 300 * gpt.get_prices(WHEN).output_mtok) / 1_000_000, "priced", "genai-prices", "gpt-4o")
    assert len(plans) == 2 and plans[0] is gpt.get_prices(WHEN)


def test_the_slow_path_prices_at_the_calls_time(swap):
    """A dated table change: the fallback (and its core-only retry) use the call's table, not today's."""
    swap(snapshot(model("dated", [
        gp.ConditionalPrice(prices=gp.ModelPrice(input_mtok=Decimal(1), output_mtok=Decimal(2))),
        gp.ConditionalPrice(constraint=gp.StartDateConstraint(start_date=date(2099, 1, 1)), prices=gp.ModelPrice(
            input_mtok=Decimal(10), output_mtok=Decimal(20), input_audio_mtok=Decimal(30))),
    ])))
    m = metered(input_tokens=100, output_tokens=10, input_audio_tokens=500)  # audio above its total in 2099
    p = Pricer().price(m, "dated", "openai", when=datetime(2099, 6, 1, tzinfo=UTC))
    assert p == Priced(Decimal("0.0012"), "priced", "genai-prices", "dated")  # 100 * 10 + 10 * 20, 2099's core


def test_a_table_genai_prices_rejects_is_unpriced(swap, caplog):
    swap(snapshot(model("broken", gp.ModelPrice(input_mtok=Decimal(-1), output_mtok=Decimal(2)))))
    p = Pricer().price(metered(input_tokens=100, output_tokens=10), "broken", "openai", when=WHEN)
    assert p == Priced(None, "unpriced", None, "broken")
    assert [r.getMessage() for r in caplog.records] == [
        "pricing broken failed: Invalid price value for input_mtok: "
        "expected a finite non-negative Decimal or valid tiered prices"]
