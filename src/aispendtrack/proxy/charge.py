"""The dollar bound a budgeted call reserves: its body read, priced like the ledger.

Input tokens are bounded by the request body's bytes, output tokens by the request's
max-tokens field (else `[budgets] default_max_output_tokens`); see `limits.budget`. The
bound is priced with the ledger's prices (overrides included) twice — as plain input and
as cache writes, which some providers bill above input — for every model the request may
be served by (the path's, the body's, OpenRouter fallbacks), and the dearest is held.
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
from aispendtrack.limits import routing
from aispendtrack.proxy import azure
from aispendtrack.proxy.reqbody import request_body
from aispendtrack.proxy.state import FlowState
from aispendtrack.store.budgets import Charge


AZURE_HINT = " (an Azure deployment: name its model under [azure.deployments])"


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
    if state.api in ("batch", "batches", "files"):
        # A batch's cost is known only from its results: uploading its input and creating it
        # hold one nano-dollar, so they are admitted only while the budget has money left; its
        # results pay when they pass (the calls a spent budget never stops: `batches.budget_exempt`).
        return Bound(Charge(1, tier_budget(config, state)))
    if flow.request.raw_content is None:  # streamed through (stream_large_bodies): no bound
        return Bound(None, "AiSpendTrack cannot hold a budget for a request whose body is streamed through"
                           " unread (mitmproxy option stream_large_bodies); raise that option's size")
    body, _ = request_body(flow.request)
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, RecursionError):
        parsed = None
    # The path's model for a path-routed API, and every fallback the body names: the dearest is held.
    models = routing.requested(flow.request.path, parsed if isinstance(parsed, dict) else None).names
    if state.provider == "azure":  # a deployment is priced as the model [azure.deployments] names
        models = azure.priced_names(flow.request.path, models, config.azure.deployments)
    models = models or (None,)
    # The raw (possibly compressed) size may be smaller than the decoded text: take the larger.
    input_tokens = max(len(body), len(flow.request.raw_content or b""), 1)
    output_tokens = rules.output_bound(parsed, config.budgets.default_max_output_tokens)
    when = datetime.fromtimestamp(state.start, UTC)
    costs = {
        model: [pricer.price(meter.Metered(input_tokens=input_tokens, output_tokens=output_tokens,
                                           cache_write_tokens=cache_write, has_usage=True),
                             model, state.provider, when=when).cost_usd
                for cache_write in (None, input_tokens)]
        for model in models
    }
    tier = tier_budget(config, state)
    unpriced = [model for model, each in costs.items() if None in each]
    if unpriced:
        if config.budgets.unpriced == "allow":
            return Bound(Charge(0, tier), model=models[0])
        return Bound(None, f"AiSpendTrack cannot hold a budget for model {unpriced[0] or '(none named)'}: it has"
                           f" no known price, so its cost could exceed the budget; add it under [prices] in the"
                           f" config{AZURE_HINT if state.provider == 'azure' else ''}, or set [budgets] unpriced ="
                           f" \"allow\"", unpriced[0])
    if state.api == "realtime":  # the handshake bills nothing: it needs money left, each response holds its own
        return Bound(Charge(1, tier), model=models[0])
    return Bound(Charge(rules.to_nano(max(max(each) for each in costs.values())), tier), model=models[0])
