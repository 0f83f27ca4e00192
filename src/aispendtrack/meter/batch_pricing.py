"""Batch results priced at the batch rate.

genai-prices models batch prices as a price variant selected by the request context
`{"processing": "batch"}`; where the model has one (in force at the call's time) that is
the price (`cost_source` "genai-prices-batch"). Otherwise the call is priced as usual and
halved — the 50 % discount OpenAI and Anthropic both publish for batches — and the row says
so: `cost_source` "batch-half:genai-prices" or "batch-half:override". Local, unpriced and
unmetered results stay what they are (never a made-up $0).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from aispendtrack.meter.pricing import Priced, Pricer, _usage_values, calc_or_core
from aispendtrack.meter.types import Metered

BATCH_CONTEXT = {"processing": "batch"}
HALF = Decimal("0.5")


def has_batch_price(info, when: datetime) -> bool:
    """Whether a genai-prices model has batch prices in force at `when`."""
    return any(v.when == BATCH_CONTEXT and (v.constraint is None or v.constraint.active(when))
               for v in info.price_variants or ())


def price_batch(pricer: Pricer, m: Metered, model: str | None, provider: str | None, *, when: datetime) -> Priced:
    std = pricer.price(m, model, provider, when=when)
    if std.pricing != "priced" or std.cost_usd is None:
        return std
    if std.source == "genai-prices" and model:
        found = pricer.lookup(model, provider)
        if found is not None and has_batch_price(found[1], when):
            return Priced(_batch_cost(m, found[1], when), "priced", "genai-prices-batch", found[1].id)
    return Priced(std.cost_usd * HALF, "priced", f"batch-half:{std.source}", std.model_ref)


def _batch_cost(m: Metered, info, when: datetime) -> Decimal:
    model_price = info.get_prices(when, BATCH_CONTEXT)
    return calc_or_core(lambda u: model_price.calc_price(u)["total_price"], _usage_values(m))
