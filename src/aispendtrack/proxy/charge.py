"""The dollar bound a budgeted call reserves: its body read, priced like the ledger.

Input tokens are bounded by the request body's bytes, output tokens by the request's
max-tokens field (else `[budgets] default_max_output_tokens`); see `limits.budget`. The
bound is priced with the ledger's prices (overrides included) twice — as plain input and
as cache writes, which some providers bill above input — and the dearer one is held.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from mitmproxy import http

from aispendtrack import meter
from aispendtrack.config import Config
from aispendtrack.limits import budget as rules
from aispendtrack.meter.pricing import Pricer
from aispendtrack.proxy.metering import request_body, request_model_from_path
from aispendtrack.proxy.state import FlowState
from aispendtrack.store.budgets import Charge


@dataclass(frozen=True, slots=True)
class Bound:
    charge: Charge | None  # None: refused (see `refusal`)
    refusal: str | None = None
    model: str | None = None


def tier_budget(config: Config, state: FlowState) -> rules.Budget | None:
    tier = config.tier(state.tier) if state.tier else None
    if tier is None or tier.budget_usd is None:
        return None
    return rules.Budget("account", state.account, rules.to_nano(tier.budget_usd), tier.budget_period)


def bound(flow: http.HTTPFlow, state: FlowState, config: Config, pricer: Pricer) -> Bound:
    """What to reserve for `flow`, or why it may not run under a budget."""
    if flow.request.raw_content is None:  # streamed through (stream_large_bodies): no bound
        return Bound(None, "AiSpendTrack cannot hold a budget for a request whose body is streamed through"
                           " unread (mitmproxy option stream_large_bodies); raise that option's size")
    body, _ = request_body(flow.request)
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, RecursionError):
        parsed = None
    model = None
    if isinstance(parsed, dict) and isinstance(parsed.get("model"), str):
        model = parsed["model"]
    model = model or request_model_from_path(flow.request.path)
    # The raw (possibly compressed) size may be smaller than the decoded text: take the larger.
    input_tokens = max(len(body), len(flow.request.raw_content or b""), 1)
    output_tokens = rules.output_bound(parsed, config.budgets.default_max_output_tokens)
    when = datetime.fromtimestamp(state.start, UTC)
    costs = []
    for cache_write in (None, input_tokens):
        m = meter.Metered(input_tokens=input_tokens, output_tokens=output_tokens,
                          cache_write_tokens=cache_write, has_usage=True)
        costs.append(pricer.price(m, model, state.provider, when=when).cost_usd)
    tier = tier_budget(config, state)
    if any(c is None for c in costs):
        if config.budgets.unpriced == "allow":
            return Bound(Charge(0, tier), model=model)
        return Bound(None, f"AiSpendTrack cannot hold a budget for model {model or '(none named)'}: it has no"
                           f" known price, so its cost could exceed the budget; add it under [prices] in the"
                           f" config, or set [budgets] unpriced = \"allow\"", model)
    return Bound(Charge(rules.to_nano(max(costs)), tier), model=model)
