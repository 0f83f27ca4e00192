"""Cost of a metered call: provider-reported cost, local overrides, else genai-prices.

genai-prices is used offline only (its bundled snapshot; auto-update is never started).
Lookup rules: with a known provider, the model is looked up under that provider (which
also follows genai-prices' own fallbacks, e.g. google → anthropic models). If genai-prices
does not know that provider id, or the model under it, the model is looked up alone
(genai-prices picks the provider by model name) — except for Bedrock (`aws`), priced by
its own entries only. Not found → "unpriced", cost None.
A provider declared local (`[providers.local]`, e.g. Ollama on the user's own machine) is
not looked up at all: its calls cost $0 as "local", which is neither a price-list $0 nor
an unknown cost.

Speed: a genai-prices `calc_price` costs ~0.2-0.3 ms, mostly re-validating the price table
and inferring missing usage on every call. We cache the model lookup (hits and misses) per
(model, provider) and, per resolved `ModelPrice` object (selected per call by date, so dated
prices stay correct), a validated plan; each call then does the same leaf decomposition
and tier selection as genai-prices with plain ints. Anything unusual falls back to
genai-prices' own calculation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from genai_prices import Usage
from genai_prices import types as gp_types
from genai_prices.data_snapshot import get_snapshot
from genai_prices.decompose import is_descendant_or_self
from genai_prices.units import _get_registry
from genai_prices.validation import validate_priced_units

from aispendtrack.meter.types import Metered

log = logging.getLogger(__name__)
_MTOK = Decimal(1_000_000)
_CORE = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
# Providers priced by their own genai-prices entries only, never by the model name alone:
# Bedrock bills its own rates (regional and global profiles apart), not another host's.
OWN_PRICES_ONLY = frozenset({"aws"})


@dataclass(frozen=True)
class PriceOverride:
    """Local price from mitm.toml `[prices."model-name"]`, USD per million tokens."""

    input_mtok: Decimal
    output_mtok: Decimal
    cache_read_mtok: Decimal | None = None  # None: cache reads cost input_mtok
    cache_write_mtok: Decimal | None = None  # None: cache writes cost input_mtok

    def cost(self, m: Metered) -> Decimal:
        read = m.cache_read_tokens or 0
        write = m.cache_write_tokens or 0
        uncached = max((m.input_tokens or 0) - read - write, 0)
        total = (
            uncached * self.input_mtok
            + read * (self.input_mtok if self.cache_read_mtok is None else self.cache_read_mtok)
            + write * (self.input_mtok if self.cache_write_mtok is None else self.cache_write_mtok)
            + (m.output_tokens or 0) * self.output_mtok
        )
        return total / _MTOK


@dataclass
class Priced:
    cost_usd: Decimal | None
    pricing: str  # "priced" | "unpriced" | "unmetered" | "local"
    source: str | None  # "genai-prices" | "provider" | "override" | "local" | None
    model_ref: str | None = None  # the genai-prices model id that matched, for debugging


@dataclass
class _Plan:
    """A validated price table: priced units in genai-prices' decomposition order."""

    keys: list[str]
    pers: list[int]
    prices: list[Any]  # Decimal | TieredPrices
    descendants: list[list[int]]
    requests: Any  # price per `requests` unit, or None
    requests_per: int
    tiered: bool
    # (key, groups): a key genai-prices reads that, when not reported, it refuses to take as 0
    # if every count of one group is above 0 (see `_implied_by`)
    implied: list[tuple[str, tuple[tuple[str, ...], ...]]]


def _plan(model_price: gp_types.ModelPrice) -> _Plan:
    registry = _get_registry()
    resolved = gp_types._collect_resolved_model_prices(model_price, registry)
    validate_priced_units(tuple(unit for unit, _ in resolved), registry)
    units = sorted(
        ((u, p) for u, p in resolved if u.usage_key != "requests"),
        key=lambda up: (-len(up[0].dimensions), up[0].usage_key),
    )
    req = [(u, p) for u, p in resolved if u.usage_key == "requests"]
    tiered = any(isinstance(p, gp_types.TieredPrices) for _, p in resolved)
    read = [u.usage_key for u, _ in units] + (["input_tokens"] if tiered else [])
    return _Plan(
        keys=[u.usage_key for u, _ in units],
        pers=[u.per for u, _ in units],
        prices=[p for _, p in units],
        descendants=[
            [j for j, (d, _) in enumerate(units) if j < i and is_descendant_or_self(u, d)]
            for i, (u, _) in enumerate(units)
        ],
        requests=req[0][1] if req else None,
        requests_per=req[0][0].per if req else 1,
        tiered=tiered,
        implied=[(key, groups) for key in dict.fromkeys(read) if (groups := _implied_by(key))],
    )


@cache
def _implied_by(usage_key: str) -> tuple[tuple[str, ...], ...]:
    """Reported counts that make genai-prices refuse to infer `usage_key` as 0 when it is missing.

    `Usage._infer_missing_value`: a reported part of it (cache_audio_read within cache_read), or
    two reported overlapping counts whose join it is (cache_read and input_audio → how much of
    the cache was audio is unknown).
    """
    registry = _get_registry()
    unit = registry.units[usage_key]
    reported = [registry.units[k] for k in gp_types._reported_usage_key_order()]
    parts = [(u.usage_key,) for u in reported if usage_key in registry.ancestor_usage_keys(u.usage_key)]
    above = [u for u in reported if u.usage_key in registry.ancestor_usage_keys(usage_key)]
    pairs = [(a.usage_key, b.usage_key) for i, a in enumerate(above) for b in above[i + 1:]
             if gp_types._reported_overlap_keys_for_join(unit, [a, b])]
    return tuple(parts + pairs)


def _fast_cost(plan: _Plan, values: dict[str, int]) -> Decimal | None:
    """genai-prices' ModelPrice.calc_price on plain ints; None → let genai-prices decide.

    Only priced units are read: one the table has no price for (cache writes, reasoning on
    most models) is charged within its parent total, as genai-prices does. A priced unit not
    reported counts 0, unless the counts that were reported imply it (genai-prices raises).
    """
    for key, groups in plan.implied:
        if key not in values and any(all(values.get(k, 0) > 0 for k in group) for group in groups):
            return None
    # the tier is chosen by the whole input, as genai-prices does, even when input has no price
    total_input = values.get("input_tokens", 0) if plan.tiered else 0
    leaves: list[int] = []
    for i, key in enumerate(plan.keys):
        leaf = values.get(key, 0) - sum(leaves[j] for j in plan.descendants[i])
        if leaf < 0:
            return None  # inconsistent usage: genai-prices raises a precise error
        leaves.append(leaf)
    total = Decimal(0)
    for price, count, per in zip(plan.prices, leaves, plan.pers):
        total += gp_types.calc_unit_price(price, count, total_input, per)
    if plan.requests is not None:
        total += gp_types.calc_unit_price(plan.requests, 1, total_input, plan.requests_per)
    return total


def _usage_values(m: Metered) -> dict[str, int]:
    """The reported counts, a reported 0 included: it tells genai-prices what it will not guess
    (e.g. no audio in a Gemini cache read). Unknown counts are absent from `details`."""
    values = {k: v for k, v in m.details.items() if isinstance(v, int) and v >= 0}
    for key, v in zip(_CORE, (m.input_tokens, m.output_tokens, m.cache_read_tokens, m.cache_write_tokens)):
        if v is not None:
            values[key] = v
    return values


def calc_or_core(calc: Callable[[Usage], Decimal], values: dict[str, int]) -> Decimal:
    """`calc` of the reported counts; on inconsistent detail fields (e.g. modality counts above
    the total, which genai-prices rejects) the core counts alone are priced."""
    try:
        return calc(Usage(**values))
    except ValueError:
        return calc(Usage(**{k: v for k, v in values.items() if k in _CORE}))


class Pricer:
    """Prices `Metered` calls; one instance per process (it caches lookups)."""

    def __init__(self, overrides: dict[str, PriceOverride] | None = None, local: Iterable[str] = ()) -> None:
        self.overrides = dict(overrides or {})
        self.local = frozenset(p.lower() for p in local)
        self._lower = {k.lower(): v for k, v in self.overrides.items()}
        self._models: dict[tuple[str, str | None], tuple[gp_types.Provider, gp_types.ModelInfo] | None] = {}
        self._plans: dict[int, tuple[gp_types.ModelPrice, _Plan | None]] = {}
        self._snapshot = get_snapshot()

    @classmethod
    def with_prices(cls, prices: dict, local: Iterable[str] = ()) -> Pricer:
        """A pricer with local prices (`config.Config.prices`: model → `Price`) over the bundled
        ones, and the provider ids that run locally (`config.Config.local_providers`)."""
        return cls({
            model: PriceOverride(input_mtok=p.input_mtok, output_mtok=p.output_mtok,
                                 cache_read_mtok=p.cache_read_mtok, cache_write_mtok=p.cache_write_mtok)
            for model, p in prices.items()
        }, local)

    def price(self, m: Metered, model: str | None, provider: str | None, *, when: datetime | None = None) -> Priced:
        if not m.has_usage:
            return Priced(None, "unmetered", None)
        if provider and provider.lower() in self.local:
            return Priced(Decimal(0), "local", "local")  # free whatever the counts, even garbage ones
        if m.invalid:
            return Priced(None, "unpriced", None)  # never a cost from partial, garbage usage
        if m.provider_cost is not None:
            return Priced(m.provider_cost, "priced", "provider")
        if not model:
            return Priced(None, "unpriced", None)
        override = self.overrides.get(model) or self._lower.get(model.lower())
        if override is not None:
            return Priced(override.cost(m), "priced", "override")
        found = self.lookup(model, provider)
        if found is None:
            return Priced(None, "unpriced", None)
        prov, info = found
        when = when or datetime.now(UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # ledger times are UTC
        try:
            cost = self._calc(m, prov, info, when)
        except (LookupError, ValueError, ArithmeticError) as e:
            log.warning("pricing %s failed: %s", model, e)
            return Priced(None, "unpriced", None, info.id)
        return Priced(cost, "priced", "genai-prices", info.id)

    def lookup(self, model: str, provider: str | None) -> tuple[gp_types.Provider, gp_types.ModelInfo] | None:
        key = (model.lower(), provider.lower() if provider else None)
        if get_snapshot() is self._snapshot:
            try:
                return self._models[key]
            except KeyError:
                pass
        snap = get_snapshot()
        if snap is not self._snapshot:
            # `aispendtrack_price_updates` swapped in fresher prices: forget lookups of the old ones.
            self._models.clear()
            self._snapshot = snap
        found = None
        if provider:
            try:
                found = snap.find_provider_model(model, None, provider, None)
            except LookupError:
                found = None
        if found is None and (provider or "").lower() not in OWN_PRICES_ONLY:
            try:
                found = snap.find_provider_model(model, None, None, None)
            except LookupError:
                found = None
        self._models[key] = found
        return found

    def _calc(self, m: Metered, prov: gp_types.Provider, info: gp_types.ModelInfo, when: datetime) -> Decimal:
        values = _usage_values(m)
        model_price = info.get_prices(when)
        cached = self._plans.get(id(model_price))
        if cached is None or cached[0] is not model_price:
            try:
                plan = _plan(model_price)
            except Exception:  # a table genai-prices itself would reject: use its path
                plan = None
            cached = self._plans[id(model_price)] = (model_price, plan)
        plan = cached[1]
        if plan is not None:
            cost = _fast_cost(plan, values)
            if cost is not None:
                return cost
        return calc_or_core(lambda u: info.calc_price(u, prov, genai_request_timestamp=when).total_price, values)
