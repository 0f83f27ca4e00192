"""The pricing fast path (`_plan`, `_fast_cost`) is genai-prices' own calculation on plain ints.

Compared directly, not through `Pricer._calc` (which would hide a fast path that gave up and
fell back to genai-prices): for usage genai-prices can price, the fast path must answer, and
answer exactly the same `Decimal`; for usage genai-prices rejects, it must give up (None).
"""

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage
from genai_prices import types as gp
from genai_prices.data_snapshot import get_snapshot
from genai_prices.decompose import is_descendant_or_self
from genai_prices.units import _get_registry
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aispendtrack.meter.pricing import _fast_cost, _plan

REGISTRY = _get_registry()


def genai(mp: gp.ModelPrice, values: dict[str, int]) -> Decimal | None:
    """genai-prices' price of `values` under the table `mp`; None when it rejects the usage."""
    try:
        return mp.calc_price(Usage(**values))["total_price"]
    except ValueError:
        return None


def snapshot_tables():
    """Every price table of the bundled snapshot, dated and time-of-day variants included."""
    for prov in get_snapshot().providers:
        for info in prov.models:
            if isinstance(info.prices, gp.ModelPrice):
                yield prov.id, info.id, 0, info.prices
            else:
                for n, conditional in enumerate(info.prices):
                    yield prov.id, info.id, n, conditional.prices


def consistent_usage(mp: gp.ModelPrice, rnd: random.Random) -> dict[str, int]:
    """A value for every unit the table prices, each at least the sum of its priced descendants.

    Plus details the table does not price (charged within their totals).
    """
    units = [u for u, _ in gp._collect_resolved_model_prices(mp, REGISTRY) if u.usage_key != "requests"]
    values: dict[str, int] = {}
    for u in sorted(units, key=lambda u: -len(u.dimensions)):  # descendants first
        within = sum(values[d.usage_key] for d in units if d is not u and is_descendant_or_self(u, d))
        values[u.usage_key] = within + rnd.choice((0, rnd.randint(1, 300), rnd.randint(1, 400_000)))
    for extra in ("cache_write_tokens", "output_reasoning_tokens", "input_audio_tokens"):
        values.setdefault(extra, rnd.randint(1, 50))
    values.setdefault("input_tokens", sum(v for k, v in values.items() if REGISTRY.units[k].dimensions.get(
        "direction") == "input" and k != "input_tokens"))
    values.setdefault("output_tokens", values["output_reasoning_tokens"])
    return values


def test_fast_path_prices_every_table_of_the_snapshot_exactly():
    rnd, compared, tiered, requests, rejected = random.Random(7), 0, 0, 0, 0
    for prov_id, model_id, n, mp in snapshot_tables():
        plan = _plan(mp)  # every bundled table has a plan: no call goes the slow way
        for _ in range(3):
            values = consistent_usage(mp, rnd)
            expected = genai(mp, values)
            assert expected is not None, (prov_id, model_id, values)
            assert _fast_cost(plan, values) == expected, (prov_id, model_id, n, values)
            compared += 1
        tiered += plan.tiered
        requests += plan.requests is not None
        # a detail above its total: genai-prices raises, the fast path gives up
        pairs = [(top, child) for top in plan.keys for child in plan.keys
                 if child != top and is_descendant_or_self(REGISTRY.units[top], REGISTRY.units[child])]
        if pairs:
            inconsistent = {pairs[0][0]: 5, pairs[0][1]: 6}
            assert genai(mp, inconsistent) is None, (prov_id, model_id, inconsistent)
            assert _fast_cost(plan, inconsistent) is None, (prov_id, model_id, inconsistent)
            rejected += 1
    assert compared > 7500 and tiered > 100 and requests == 4 and rejected > 1000


def test_usage_without_some_priced_units_is_priced_fast():
    """Unreported priced units count 0 (a leaf of 0 is not a reason to give up)."""
    _, info = get_snapshot().find_provider_model("claude-sonnet-4-20250514", None, "anthropic", None)
    mp = info.get_prices(datetime.now(UTC))
    values = {"input_tokens": 500, "output_tokens": 20, "cache_read_tokens": 500}  # all input was a cache read
    assert _fast_cost(_plan(mp), values) == genai(mp, values) == (500 * mp.cache_read_mtok + 20 * mp.output_mtok) / 10**6


def test_tiered_price_without_input_is_the_base_price():
    """No input reported: no tier applies, not even one from 0 tokens; missing input is not None."""
    _, info = get_snapshot().find_provider_model("gemini-2.5-pro", None, "google", None)
    mp = info.get_prices(datetime.now(UTC))
    plan = _plan(mp)
    assert plan.tiered
    assert _fast_cost(plan, {"output_tokens": 1_000_000}) == genai(mp, {"output_tokens": 1_000_000}) == (
        mp.output_mtok.base)


DEC = st.decimals(min_value=0, max_value=20, places=2)


@st.composite
def prices(draw):
    if draw(st.booleans()):
        return draw(DEC)
    starts = draw(st.lists(st.sampled_from([0, 1, 1000, 200_000]), min_size=1, max_size=2, unique=True))
    return gp.TieredPrices(base=draw(DEC), tiers=[gp.Tier(start=s, price=draw(DEC)) for s in sorted(starts)])


OPTIONAL_KEYS = ["cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok", "input_audio_mtok",
                 "cache_audio_read_mtok", "output_reasoning_mtok", "requests_kcount"]
COUNTS = ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens",
          "input_audio_tokens", "cache_audio_read_tokens", "output_reasoning_tokens"]


@st.composite
def tables(draw):
    keys = ["output_mtok"] + (["input_mtok"] if draw(st.booleans()) else [])
    keys += draw(st.lists(st.sampled_from(OPTIONAL_KEYS), unique=True, max_size=5))
    return gp.ModelPrice(**{k: draw(prices()) for k in keys})


@st.composite
def usages(draw):
    """Reported counts, each total present when a detail of it is (as a `Metered` reports them)."""
    values = {k: draw(st.integers(0, 400_000)) for k in draw(st.lists(st.sampled_from(COUNTS), unique=True))}
    for key in list(values):
        for total in COUNTS:
            if total not in values and REGISTRY.units[total].dimensions.items() < REGISTRY.units[key].dimensions.items():
                values[total] = draw(st.integers(0, 400_000))
    return values


TIERED_OUTPUT = gp.ModelPrice(input_mtok=Decimal(1), output_mtok=gp.TieredPrices(
    base=Decimal(2), tiers=[gp.Tier(start=0, price=Decimal(3)), gp.Tier(start=200_000, price=Decimal(4))]))
TIERED_REQUESTS = gp.ModelPrice(input_mtok=Decimal(1), output_mtok=Decimal(2), requests_kcount=gp.TieredPrices(
    base=Decimal(5), tiers=[gp.Tier(start=1000, price=Decimal(6))]))
ZERO = Decimal("0.00")
ZERO_TIERED = gp.TieredPrices(base=ZERO, tiers=[gp.Tier(start=0, price=ZERO)])
AUDIO_CACHE = gp.ModelPrice(output_mtok=ZERO_TIERED, input_mtok=ZERO_TIERED, input_audio_mtok=ZERO,
                            cache_audio_read_mtok=ZERO_TIERED, output_reasoning_mtok=ZERO, cache_read_mtok=ZERO)


@settings(max_examples=400, deadline=None)
@given(mp=tables(), values=usages())
@example(mp=TIERED_OUTPUT, values={"output_tokens": 10})  # no input: base price, not the tier from 0
@example(mp=TIERED_OUTPUT, values={"input_tokens": 300_000, "output_tokens": 10})
@example(mp=gp.ModelPrice(output_mtok=TIERED_OUTPUT.output_mtok), values={"input_tokens": 300_000, "output_tokens": 10})
@example(mp=TIERED_REQUESTS, values={"input_tokens": 5000, "output_tokens": 10})
@example(mp=TIERED_REQUESTS, values={"input_tokens": 50, "output_tokens": 10})
# cache reads and audio input both reported, their join (cached audio) priced but not reported:
# genai-prices will not guess how much of the cache was audio, so the fast path must give up too
@example(mp=AUDIO_CACHE, values={"input_tokens": 2, "output_tokens": 0, "cache_read_tokens": 1, "cache_write_tokens": 0,
                                 "cache_write_1h_tokens": 0, "input_audio_tokens": 1})
# a priced total not reported, with a part of it the table does not price reported: not 0 either
@example(mp=gp.ModelPrice(input_mtok=Decimal(1), output_mtok=Decimal(2), cache_read_mtok=Decimal("0.1")),
         values={"input_tokens": 10, "cache_audio_read_tokens": 3})
# nor is the input total the tier is chosen by, even where input has no price
@example(mp=gp.ModelPrice(output_mtok=TIERED_OUTPUT.output_mtok), values={"cache_read_tokens": 5, "output_tokens": 10})
def test_fast_path_equals_genai_prices_on_any_valid_table(mp, values):
    try:
        plan = _plan(mp)
    except ValueError:
        # a table genai-prices rejects: it rejects it when pricing too, the caller uses its path
        with pytest.raises(ValueError):
            mp.calc_price(Usage(**values))
        return
    assert _fast_cost(plan, values) == genai(mp, values)
