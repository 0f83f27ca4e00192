import json
import logging
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from aispendtrack.meter import Metered, meter_body
from aispendtrack.meter import pricing
from aispendtrack.meter.pricing import PriceOverride, Priced, Pricer

WHEN = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def metered(**kw) -> Metered:
    details = {k: v for k, v in kw.items() if v is not None}
    return Metered(has_usage=True, details=details, **{k: v for k, v in kw.items() if k in (
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")})


def test_no_usage_is_unmetered():
    assert Pricer().price(Metered(), "gpt-4o", "openai") == Priced(None, "unmetered", None)


def test_unknown_model_is_unpriced_never_zero():
    m = metered(input_tokens=10, output_tokens=5)
    assert Pricer().price(m, "no-such-model-xyz", "openai") == Priced(None, "unpriced", None)
    assert Pricer().price(m, "no-such-model-xyz", None).cost_usd is None
    assert Pricer().price(m, None, "openai").pricing == "unpriced"


def test_provider_cost_wins():
    m = metered(input_tokens=10, output_tokens=5)
    m.provider_cost = Decimal("0.0042")
    p = Pricer({"gpt-4o": PriceOverride(Decimal(1), Decimal(1))}).price(m, "gpt-4o", "openrouter")
    assert p == Priced(Decimal("0.0042"), "priced", "provider")


def test_override():
    ov = PriceOverride(input_mtok=Decimal("2"), output_mtok=Decimal("8"), cache_read_mtok=Decimal("0.5"))
    pricer = Pricer({"My-Model": ov})
    m = metered(input_tokens=1_000_000, output_tokens=500_000, cache_read_tokens=200_000, cache_write_tokens=100_000)
    p = pricer.price(m, "my-model", "openai")
    # uncached 700k * 2 + reads 200k * 0.5 + writes (no write price → input) 100k * 2 + 500k * 8
    assert p == Priced(Decimal("1.4") + Decimal("0.1") + Decimal("0.2") + Decimal("4"), "priced", "override")
    assert isinstance(p.cost_usd, Decimal)


def test_override_counts_a_missing_total_as_zero():
    ov = PriceOverride(input_mtok=Decimal("2"), output_mtok=Decimal("8"))
    assert ov.cost(metered(output_tokens=1000)) == Decimal("0.008")
    assert ov.cost(metered(input_tokens=1000)) == Decimal("0.002")


def test_override_exact_name_first_then_any_case():
    a, b = PriceOverride(Decimal(1), Decimal(0)), PriceOverride(Decimal(3), Decimal(0))
    pricer, m = Pricer({"Model-A": a, "model-a": b}), metered(input_tokens=1_000_000)
    assert pricer.price(m, "Model-A", None) == Priced(Decimal(1), "priced", "override")
    assert pricer.price(m, "model-a", None) == Priced(Decimal(3), "priced", "override")
    assert pricer.price(m, "MODEL-a", "openai") == Priced(Decimal(3), "priced", "override")


def test_with_prices_keeps_every_configured_price():
    from aispendtrack.config import Price
    price = Price(input_mtok=Decimal("2"), output_mtok=Decimal("8"), cache_read_mtok=Decimal("0.5"),
                  cache_write_mtok=Decimal("3"))
    pricer = Pricer.with_prices({"mine": price})
    assert pricer.overrides == {"mine": PriceOverride(Decimal("2"), Decimal("8"), Decimal("0.5"), Decimal("3"))}


CASES = [
    ("gpt-4o", "openai", dict(input_tokens=1200, output_tokens=300, cache_read_tokens=1024, output_reasoning_tokens=0)),
    ("claude-sonnet-4-20250514", "anthropic",
     dict(input_tokens=12025, output_tokens=150, cache_read_tokens=10000, cache_write_tokens=2000,
          cache_write_5m_tokens=1500, cache_write_1h_tokens=500)),
    ("gemini-2.5-pro", "google", dict(input_tokens=250_000, output_tokens=2000, cache_read_tokens=100_000,
                                      output_reasoning_tokens=1500, input_text_tokens=250_000)),  # above the tier
    ("gemini-2.5-flash", "google", dict(input_tokens=500, output_tokens=200, cache_read_tokens=256,
                                        input_audio_tokens=100, cache_audio_read_tokens=50)),
    ("deepseek-chat", "deepseek", dict(input_tokens=100, output_tokens=20, cache_read_tokens=64)),
    ("llama-3.3-70b-versatile", "groq", dict(input_tokens=40, output_tokens=12)),
    ("sonar", "perplexity", dict(input_tokens=40, output_tokens=12)),  # priced per request too
    ("gpt-4o-audio-preview", "openai", dict(input_tokens=1000, output_tokens=500, input_audio_tokens=300,
                                            output_audio_tokens=200)),
]


@pytest.mark.parametrize("model,provider,usage", CASES)
def test_matches_genai_prices_own_calc(model, provider, usage):
    expected = calc_price(Usage(**usage), model, provider_id=provider, genai_request_timestamp=WHEN).total_price
    p = Pricer().price(metered(**usage), model, provider, when=WHEN)
    assert p.pricing == "priced" and p.source == "genai-prices"
    assert p.cost_usd == expected and isinstance(p.cost_usd, Decimal)
    assert p.cost_usd > 0


@settings(max_examples=200, deadline=None)
@given(
    case=st.sampled_from(CASES),
    inp=st.integers(0, 2_000_000),
    out=st.integers(0, 100_000),
    read=st.integers(0, 2_000_000),
    write=st.integers(0, 2_000_000),
    hour=st.integers(0, 23),
)
def test_fast_path_equals_genai_prices(case, inp, out, read, write, hour):
    model, provider, _ = case
    usage = dict(input_tokens=inp + read + write, output_tokens=out, cache_read_tokens=read, cache_write_tokens=write)
    when = WHEN.replace(hour=hour)  # deepseek-chat prices vary by time of day
    try:
        expected = calc_price(Usage(**usage), model, provider_id=provider, genai_request_timestamp=when).total_price
    except ValueError:
        expected = None  # genai-prices cannot price this usage: neither may we (unpriced, not $0)
    got = Pricer().price(metered(**usage), model, provider, when=when)
    assert (got.cost_usd, got.pricing) == (expected, "unpriced" if expected is None else "priced")


def test_time_dependent_price_is_not_cached_wrongly():
    pricer = Pricer()
    m = metered(input_tokens=1_000_000, output_tokens=0)
    day = pricer.price(m, "deepseek-chat", "deepseek", when=WHEN.replace(hour=10)).cost_usd
    night = pricer.price(m, "deepseek-chat", "deepseek", when=WHEN.replace(hour=20)).cost_usd
    assert day != night
    for when in (WHEN.replace(hour=10), WHEN.replace(hour=20)):
        assert pricer.price(m, "deepseek-chat", "deepseek", when=when).cost_usd == calc_price(
            Usage(input_tokens=1_000_000), "deepseek-chat", provider_id="deepseek", genai_request_timestamp=when
        ).total_price


def test_anthropic_cache_reads_and_writes_priced_apart():
    pricer = Pricer()
    prov, info = pricer.lookup("claude-sonnet-4-20250514", "anthropic")
    mp = info.get_prices(WHEN)
    assert mp.cache_read_mtok < mp.input_mtok < mp.cache_write_mtok
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
            "content": [], "stop_reason": "end_turn",
            "usage": {"input_tokens": 25, "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 10000,
                      "output_tokens": 150}}
    m = meter_body("anthropic", "messages", json.dumps(body).encode())
    p = pricer.price(m, m.model, "anthropic", when=WHEN)
    expected = (25 * mp.input_mtok + 2000 * mp.cache_write_mtok + 10000 * mp.cache_read_mtok
                + 150 * mp.output_mtok) / 1_000_000
    assert p.cost_usd == expected
    # the 1h writes use their own price when reported
    m.details.update(cache_write_5m_tokens=1500, cache_write_1h_tokens=500)
    with_ttl = pricer.price(m, m.model, "anthropic", when=WHEN).cost_usd
    assert with_ttl == expected + 500 * (mp.cache_write_1h_mtok - mp.cache_write_mtok) / 1_000_000


def test_provider_fallback_to_model_only_lookup():
    m = metered(input_tokens=1000, output_tokens=100)
    direct = Pricer().price(m, "gpt-4o", "openai", when=WHEN)
    for provider in ("my-gateway", "openrouter-but-unknown", None):
        p = Pricer().price(m, "gpt-4o", provider, when=WHEN)
        assert p.cost_usd == direct.cost_usd and p.model_ref == "gpt-4o"
    # a known provider that does not list the model: model-only lookup
    p = Pricer().price(m, "claude-sonnet-4-20250514", "groq", when=WHEN)
    assert p.pricing == "priced" and p.model_ref is not None


def test_inconsistent_details_fall_back_to_core_fields():
    """A detail the table prices above its total: genai-prices rejects it, the core fields are priced."""
    usage = dict(input_tokens=100, output_tokens=10, input_audio_tokens=500)  # audio > total input
    p = Pricer().price(metered(**usage), "gemini-2.5-flash", "google", when=WHEN)
    with pytest.raises(ValueError):
        calc_price(Usage(**usage), "gemini-2.5-flash", provider_id="google", genai_request_timestamp=WHEN)
    core = calc_price(Usage(input_tokens=100, output_tokens=10), "gemini-2.5-flash", provider_id="google",
                      genai_request_timestamp=WHEN).total_price
    assert p == Priced(core, "priced", "genai-prices", "gemini-2.5-flash") and core > 0


def test_inconsistent_core_fields_are_unpriced_with_a_warning(caplog):
    m = metered(input_tokens=10, output_tokens=5, cache_read_tokens=100)
    with caplog.at_level(logging.WARNING, logger="aispendtrack.meter.pricing"):
        p = Pricer().price(m, "gpt-4o", "openai", when=WHEN)
    assert p == Priced(None, "unpriced", None, "gpt-4o")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "pricing gpt-4o failed: Invalid usage data: cache_read_tokens (100) cannot exceed input_tokens (10)")]


def test_when_naive_is_utc_aware_is_converted_and_default_is_now(monkeypatch):
    pricer, m = Pricer(), metered(input_tokens=1_000_000, output_tokens=0)

    def cost(when):
        return pricer.price(m, "deepseek-chat", "deepseek", when=when).cost_usd

    night, day = cost(WHEN.replace(hour=20)), cost(WHEN.replace(hour=12))  # deepseek's off-peak is at night UTC
    assert night != day
    assert cost(datetime(2026, 11, 26, 20)) == night  # naive: UTC
    assert cost(datetime(2026, 11, 26, 20, tzinfo=timezone(timedelta(hours=8)))) == day  # 12:00 UTC

    class Clock(datetime):  # a machine at UTC+10 whose clock says 20:00 UTC
        @classmethod
        def now(cls, tz=None):
            at = WHEN.replace(hour=20)
            return at.astimezone(tz) if tz else at.astimezone(timezone(timedelta(hours=10))).replace(tzinfo=None)

    monkeypatch.setattr(pricing, "datetime", Clock)
    assert pricer.price(m, "deepseek-chat", "deepseek") == Priced(night, "priced", "genai-prices", "deepseek-chat")


def test_usage_values_are_the_reported_counts_zeros_included_and_the_core_fields_win():
    m = Metered(has_usage=True, input_tokens=100, output_tokens=None, cache_read_tokens=40, cache_write_tokens=0,
                details={"input_tokens": 99, "output_tokens": 7, "cache_read_tokens": 3, "cache_write_tokens": 5,
                         "input_audio_tokens": 1, "output_audio_tokens": 0, "cache_audio_read_tokens": -2,
                         "output_reasoning_tokens": 2.5})
    assert pricing._usage_values(m) == {"input_tokens": 100, "output_tokens": 7, "cache_read_tokens": 40,
                                        "cache_write_tokens": 0, "input_audio_tokens": 1, "output_audio_tokens": 0}


AUDIO_PROMPT_TEXT_CACHE = dict(input_tokens=1500, output_tokens=100, cache_read_tokens=800, input_text_tokens=1000,
                               input_audio_tokens=500, cache_text_read_tokens=800)


def test_a_reported_zero_reaches_genai_prices():
    """Cache reads and audio input both reported: genai-prices prices the call once told the cache held no audio."""
    usage = dict(AUDIO_PROMPT_TEXT_CACHE, cache_audio_read_tokens=0)
    expected = calc_price(Usage(**usage), "gemini-2.5-flash", provider_id="google",
                          genai_request_timestamp=WHEN).total_price
    p = Pricer().price(metered(**usage), "gemini-2.5-flash", "google", when=WHEN)
    assert p == Priced(expected, "priced", "genai-prices", "gemini-2.5-flash")
    assert expected == Decimal("0.000834")


def test_an_unknown_split_of_the_cache_is_not_taken_as_zero():
    """Not told how much of the cache was audio, genai-prices refuses; only the core fields are priced."""
    usage = AUDIO_PROMPT_TEXT_CACHE
    assert "cache_audio_read_tokens" not in pricing._usage_values(metered(**usage))
    with pytest.raises(ValueError, match="require explicit cache_audio_read_tokens"):
        calc_price(Usage(**usage), "gemini-2.5-flash", provider_id="google", genai_request_timestamp=WHEN)
    core = calc_price(Usage(input_tokens=1500, output_tokens=100, cache_read_tokens=800), "gemini-2.5-flash",
                      provider_id="google", genai_request_timestamp=WHEN).total_price
    assert Pricer().price(metered(**usage), "gemini-2.5-flash", "google", when=WHEN).cost_usd == core


def test_naive_datetime_is_utc_and_lookup_cached():
    pricer = Pricer()
    m = metered(input_tokens=10, output_tokens=5)
    assert pricer.price(m, "gpt-4o", "openai", when=datetime(2026, 1, 1)).pricing == "priced"
    pricer.price(m, "nope-model", "openai")
    assert ("nope-model", "openai") in pricer._models and pricer._models[("nope-model", "openai")] is None
    assert get_snapshot().from_auto_update is False


def test_fast_path_agrees_with_genai_prices_across_the_snapshot():
    """Every provider's models, usage with and without the detail units their tables price."""
    import random
    from datetime import UTC, datetime

    from genai_prices import Usage
    from genai_prices.data_snapshot import get_snapshot

    from aispendtrack.meter import Metered
    from aispendtrack.meter.pricing import Pricer

    pricer, rnd, compared = Pricer(), random.Random(7), 0
    for prov in get_snapshot().providers:
        for info in prov.models[:25]:
            inp, out = rnd.randint(1, 300_000), rnd.randint(0, 5_000)
            details = {"input_tokens": inp, "output_tokens": out}
            if rnd.random() < 0.6:
                details["cache_read_tokens"] = rnd.randint(1, inp // 2 + 1)
            if rnd.random() < 0.6:
                details["cache_write_tokens"] = rnd.randint(0, inp // 4)
            if out and rnd.random() < 0.5:
                details["output_reasoning_tokens"] = rnd.randint(0, out)
            details = {k: v for k, v in details.items() if v}
            m = Metered(model=info.id, input_tokens=inp, output_tokens=out or None,
                        cache_read_tokens=details.get("cache_read_tokens"),
                        cache_write_tokens=details.get("cache_write_tokens"), details=details, has_usage=True)
            when = datetime(2026, 11, 26, rnd.randint(0, 23), tzinfo=UTC)
            expected = info.calc_price(Usage(**details), prov, genai_request_timestamp=when).total_price
            assert pricer._calc(m, prov, info, when) == expected, (prov.id, info.id, details)
            compared += 1
    assert compared > 500
