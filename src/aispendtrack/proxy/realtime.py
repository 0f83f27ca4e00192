"""OpenAI Realtime sessions (`/v1/realtime`, WebSocket): one ledger row per response.

The upgrade request went through the data path like any call — authenticated, counted
once against the hour and the month, its model (the query's) checked against the key's
list, admitted under its budgets — and got its own row at $0: the handshake bills nothing.
From then on the provider bills each response, so each server `response.done` becomes a
row of its own (same `flow_id`: the session), priced at the model's text and audio rates.

Budgets: a response cannot be bounded in advance (its input is the whole conversation so
far), so each one holds the budget while it runs and its row settles the hold with its
cost. A client `response.create` while the key or account has nothing left is answered
with a Realtime `error` event and never reaches the provider. A response the provider
starts by itself (server voice-activity detection) is held without that check: it is
already running and will be billed.
"""

from __future__ import annotations

import asyncio
import logging
import time

from mitmproxy import ctx, http

from aispendtrack.meter import realtime as rt_meter
from aispendtrack.proxy.charge import tier_budget
from aispendtrack.proxy.metering import Metering
from aispendtrack.proxy.state import FlowState, Runtime, state_of
from aispendtrack.store.budgets import Charge
from aispendtrack.store.ledger_schema import Outcome

log = logging.getLogger(__name__)

CHECK_NANO = 1  # a client's response.create is refused when not even this is left


class Realtime:
    def __init__(self, rt: Runtime, metering: Metering):
        self.rt = rt
        self.metering = metering

    async def websocket_message(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.api != "realtime" or flow.websocket is None or not flow.live:
            return
        message = flow.websocket.messages[-1]
        if message.dropped:
            return
        if message.from_client:  # read in binary frames too: a refusal must not hinge on the frame type
            ev = rt_meter.event(message.content, rt_meter.CLIENT_TYPES)
            if ev is not None and state.budgeted:
                await self._client_create(flow, state, message, ev)
            return
        ev = rt_meter.event(message.content, rt_meter.SERVER_TYPES) if message.is_text else None
        if ev is None:
            return
        if ev.type == "response.created":
            await self._created(flow, state, ev)
        else:
            await self._done(flow, state, ev)

    async def _client_create(self, flow: http.HTTPFlow, state: FlowState, message, ev: rt_meter.Event) -> None:
        try:
            held = await self._hold(state, CHECK_NANO, force=False)
        except Exception as e:
            log.warning("aispendtrack: budget check for a Realtime response failed: %s", e)
            self._refuse(flow, message, ev, f"AiSpendTrack could not check the budget: {e}", "budget_unavailable")
            return
        if held.refused_by is not None:
            b = held.refused_by.budget
            self._refuse(flow, message, ev, f"AiSpendTrack: the {b.scope} budget of {b.subject} is spent "
                                            f"for this {b.period}; no new response until it resets", "budget_exceeded")
            return
        if held.id is not None:
            if state.realtime_pending is None:
                state.realtime_pending = []
            state.realtime_pending.append(held.id)

    async def _created(self, flow: http.HTTPFlow, state: FlowState, ev: rt_meter.Event) -> None:
        rid = None
        if state.realtime_pending:  # the client's response.create, in order
            rid = state.realtime_pending.pop(0)
        elif state.budgeted:  # started by the provider: held all the same
            rid = await self._hold_anyway(state)
        if ev.response_id:
            if state.realtime_responses is None:
                state.realtime_responses = {}
            state.realtime_responses[ev.response_id] = [rid, time.time()]

    async def _done(self, flow: http.HTTPFlow, state: FlowState, ev: rt_meter.Event) -> None:
        rid, started = (state.realtime_responses or {}).pop(ev.response_id or "", [None, None])
        if rid is None and started is None and state.budgeted:  # its response.created was not seen
            rid = await self._hold_anyway(state)
        metered, status = rt_meter.response_usage(ev)
        now = time.time()
        row = self.metering.build_row(flow, state, 101, partial=False, metered=metered)
        row.update(ts=now, reservation_id=rid, latency_ms=round((now - (started or now)) * 1000, 3), ttfb_ms=None,
                   outcome=Outcome.FORWARDED,
                   error=row["error"] or (f"response {status}" if status and status != "completed" else None))
        self.rt.session.add(row)
        try:
            await self.metering.ledger.write(row)
        except Exception as e:
            log.warning("aispendtrack: ledger row for Realtime response %s of flow %s not written: %s",
                        ev.response_id, flow.id, e)

    async def _hold(self, state: FlowState, amount: int, *, force: bool):
        store = self.rt.store
        if store is None:
            raise RuntimeError("the store is closed")
        charge = Charge(amount, tier_budget(self.rt.config, state))
        return await asyncio.to_thread(store.hold_budget, state.key_id, state.account, charge, time.time(),
                                       force=force)

    async def _hold_anyway(self, state: FlowState) -> str | None:
        try:
            return (await self._hold(state, 0, force=True)).id
        except Exception as e:  # the row is still written; its cost reaches the budget's recount
            log.warning("aispendtrack: budget hold for a Realtime response failed: %s", e)
            return None

    @staticmethod
    def _refuse(flow: http.HTTPFlow, message, ev: rt_meter.Event, text: str, code: str) -> None:
        message.drop()
        ctx.master.commands.call("inject.websocket", flow, True, rt_meter.error_event(text, code, ev.event_id), True)
