"""Limits: per-key hourly rate, per-account monthly calls and dollar budgets, checked before forwarding.

Decided from the headers in `requestheaders` where nothing in the body can still refuse the
call: a refused request is answered 429 with an exact `retry-after` and is never forwarded
(its body is never parsed). Check-and-count is the store's `admit`, run by the proxy's one
writer thread (`store.writer`) with the other writes of its wake-up: several proxies on one
store enforce one limit together and mitmproxy's event loop never waits on the store.
Accounts are counted by name (`FlowState.account`), as the ledger names them.

A budgeted key, or one narrowed to some models (`FlowState.limits_after_body`), is decided
in `request` instead, after `Access` checked the body's models, so a call refused 403 uses
no count and holds no budget. For a budgeted key the same transaction also reserves the
call's dollar bound (`charge.bound`) on its budgets, or refuses it with 429
`budget_exceeded`. The reservation id rides on the flow state to the ledger row, whose
insert settles it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from mitmproxy import ctx, http

from aispendtrack.limits import headers as limit_headers
from aispendtrack.meter.pricing import Pricer
from aispendtrack.proxy import batches, charge
from aispendtrack.proxy.state import Runtime, reject, state_of
from aispendtrack.proxy.webview import MARK_LIMITED, MARK_REJECTED, MARK_UNAVAILABLE
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.budgets import Charge
from aispendtrack.store.ledger_schema import Outcome

log = logging.getLogger(__name__)


def offset_clock(path: str) -> Callable[[], float]:
    """`time.time()` plus the offset in seconds read from `path` at each call (missing,
    empty or unreadable file: 0). Lets a test move a running proxy an hour ahead."""

    def clock() -> float:
        try:
            with open(path, encoding="utf-8") as f:
                offset = float(f.read().strip() or 0)
        except (OSError, ValueError):
            offset = 0.0
        return time.time() + offset

    return clock


def add_headers(headers: http.Headers, extra: dict[str, str]) -> None:
    """`headers.update(extra)` for our status headers; appends the fields at once (a tenth of
    the cost) unless the upstream already sent some of them, which are then replaced."""
    prefix = limit_headers.OURS.encode()
    if any(name.lower().startswith(prefix) for name, _ in headers.fields):
        headers.update(extra)
    else:
        headers.fields += tuple((k.encode(), v.encode()) for k, v in extra.items())


class Limiter:
    """Answers 429 for keys over their limits; tells forwarded calls where they stand."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.clock: Callable[[], float] = time.time
        self.pricer: Pricer | None = None  # prices a budgeted call's bound, as the ledger prices calls

    def load(self, loader) -> None:
        loader.add_option(
            "aispendtrack_clock_offset_file",
            str,
            "",
            "Testing only: a file holding seconds (float) that the limiter adds to the current time, "
            "read at each check, so a test can move a running proxy ahead without waiting. Empty: the "
            "real clock.",
        )

    def configure(self, updated: set[str]) -> None:
        if "aispendtrack_clock_offset_file" in updated:
            path = ctx.options.aispendtrack_clock_offset_file
            self.clock = offset_clock(path) if path else time.time
            if path:
                log.warning("AiSpendTrack: limiter clock offset read from %s (testing option)", path)

    def start(self) -> None:
        self.pricer = Pricer.with_prices(self.rt.config.prices, self.rt.config.local_providers)

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if flow.response or flow.error or not flow.live or state is None or not state.identified:
            return
        if not self._admitted(state) or state.limits_after_body:
            return  # unlimited: no counter to keep; else decided in `request`, after the body's checks
        await self._decide(flow, state, None)

    async def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if flow.response or flow.error or not flow.live or state is None or not state.identified:
            return
        if not self._admitted(state) or not state.limits_after_body:
            return
        if not state.budgeted or batches.budget_exempt(flow, state):
            await self._decide(flow, state, None)
            if state.budgeted and state.api == batches.RESULTS and flow.response is None:
                state.reservation_id = await self._free_hold(state)
            return
        if self.pricer is None:
            self.pricer = Pricer.with_prices(self.rt.config.prices, self.rt.config.local_providers)
        b = charge.bound(flow, state, self.rt.config, self.pricer)
        if b.charge is None:
            reject(flow, 403, b.refusal, "budget_unpriced_model", outcome=Outcome.BUDGET_EXCEEDED,
                   marker=MARK_REJECTED, headers={"x-should-retry": "false"})
            return
        await self._decide(flow, state, b.charge)

    async def _free_hold(self, state) -> str | None:
        """A $0 hold on the budgets, never refused, that a batch's result rows settle with their cost."""
        try:
            charge_ = Charge(0, charge.tier_budget(self.rt.config, state))
            return (await asyncio.to_thread(self.rt.store.hold_budget, state.key_id, state.account, charge_,
                                            time.time(), force=True)).id
        except Exception as e:  # the rows are still written; their cost reaches the budget's recount
            log.warning("aispendtrack: budget hold for batch results failed: %s", e)
            return None

    def _admitted(self, state) -> bool:
        """Whether the call goes through the store's admission: with a limit or a budget to
        count; and every call where the store's change signals are not exact (PostgreSQL),
        so the key itself is checked there in the same transaction."""
        store = self.rt.store
        return state.limited or store is None or not store.exact_signals  # no store: refused (stopped)

    async def _decide(self, flow: http.HTTPFlow, state, budget_charge) -> None:
        try:
            store, writer = self.rt.store, self.rt.writer
            if store is None or writer is None:
                raise RuntimeError("the limiter is stopped")
            decision = await writer.admit(Admission(
                state.key_id, state.account, state.requests_per_hour, state.monthly_calls, self.clock(),
                budget_charge, None if store.exact_signals else state.digest))
        except Exception as e:
            # Fail closed: a limit we cannot check is not a limit we may skip.
            log.warning("aispendtrack: limit check failed: %s", e)
            reject(flow, 503, f"AiSpendTrack could not check limits: {e}", "limits_unavailable",
                   outcome=Outcome.REJECTED, marker=MARK_UNAVAILABLE, headers={"retry-after": "1"})
            return
        if decision.admitted:
            state.limit_headers = limit_headers.status_headers(decision)
            if decision.budget is not None:
                state.reservation_id = decision.budget.id
            return
        if decision.limit == "key":  # changed in the store since this proxy read its keys
            reject(flow, 401, f"AiSpendTrack: {decision.reason}", "invalid_api_key", outcome=Outcome.REJECTED,
                   marker=MARK_REJECTED)
            return
        if decision.limit == "budget":
            outcome = Outcome.BUDGET_EXCEEDED
            message = limit_headers.budget_message(decision, budget_charge.amount_nano)
        else:
            outcome = Outcome.QUOTA_EXCEEDED if decision.limit == "monthly" else Outcome.RATE_LIMITED
            message = limit_headers.rejection_message(decision, tier=state.tier)
        reject(flow, 429, message, outcome, outcome=outcome,
               marker=MARK_LIMITED, headers=limit_headers.rejection_headers(decision))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is not None and flow.response and state.limit_headers and flow.live:
            add_headers(flow.response.headers, state.limit_headers)
