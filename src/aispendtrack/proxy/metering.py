"""Metering: usage and cost of every provider-bound flow, committed to the ledger.

Streams are never buffered: `responseheaders` hands each chunk to a `StreamMeter` that
parses usage from the passing bytes. The ledger row is awaited in the `response` hook,
which mitmproxy runs before the end of the response reaches the client, so a call the
client saw finish always has its committed row. A stream cut mid-way fires `error`
instead; the row then records what was known, marked partial.

A streamed row is committed by `observer.StreamObserver` before the stream's end
reaches the client (see there). Only live flows are metered: a flow loaded from a file
(`mitmdump -r`, mitmweb's Open) already has its row, or never reached the upstream; a
client replay is live again, re-authorised, and a call of its own with a row of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
import weakref
from datetime import UTC, datetime

from mitmproxy import ctx, exceptions, http

from aispendtrack import meter
from aispendtrack.families import registry
from aispendtrack.limits import routing
from aispendtrack.store.writer import StoreWriter
from aispendtrack.proxy import azure, batches
from aispendtrack.proxy.observer import HOLD_SECONDS, StreamObserver
from aispendtrack.proxy.reqbody import request_body
from aispendtrack.proxy.respusage import response_usage
from aispendtrack.meter.pricing import Pricer
from aispendtrack.proxy.state import FlowState, Runtime, state_of
from aispendtrack.store.ledger_schema import Outcome
from aispendtrack.proxy.webview import annotate

log = logging.getLogger(__name__)

CLIENT_GONE = "Client disconnected."
COMMIT_WAIT = 1.0  # seconds the end of a stream may wait for its row's commit (event loop blocked)
MIN_EVENT_MAX = 64 * 1024  # the kept tail must hold a usage object with room to spare
SHUTDOWN = "The gateway shut down while the call was running."


class Metering:
    """Meters flows into the ledger and annotates them for mitmweb.

    Owns its pricer, opened by `start()` on the runtime's config; writes each row through
    the runtime's store writer; adds it to the session totals and the presence count.
    """

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.pricer: Pricer | None = None
        self.max_event = meter.MAX_EVENT
        # Flows between `request` and their row: at shutdown each still gets one (see `shutdown`).
        self.inflight: weakref.WeakValueDictionary[str, http.HTTPFlow] = weakref.WeakValueDictionary()

    def load(self, loader) -> None:
        loader.add_option(
            "aispendtrack_sse_event_max",
            int,
            meter.MAX_EVENT,
            "Bytes of one streamed event held in memory while metering. A larger event (the final event of "
            "a very long answer) is metered from its first 4 KB and its last quarter of this, so memory "
            "stays flat; usage sits at the end of it.",
        )

    def configure(self, updated: set[str]) -> None:
        if "aispendtrack_sse_event_max" in updated:
            value = ctx.options.aispendtrack_sse_event_max
            if value < MIN_EVENT_MAX:
                raise exceptions.OptionsError(f"aispendtrack_sse_event_max must be at least {MIN_EVENT_MAX} bytes")
            self.max_event = value

    @property
    def ledger(self) -> StoreWriter | None:
        # The closed writer stays in place after shutdown: a flow still finishing then gets a
        # clear "the store writer is closed" warning rather than an AttributeError.
        return self.rt.writer

    def start(self) -> None:
        self.pricer = Pricer.with_prices(self.rt.config.prices, self.rt.config.local_providers)

    def shutdown(self) -> None:
        """Rows for the calls still running as the proxy stops, queued before the writer
        closes. Each may already have cost money upstream, and no hook runs for it after
        `done`: it is recorded as aborted, partial, with the usage seen so far."""
        for flow in list(self.inflight.values()):
            state = state_of(flow)
            if state is None or state.recorded or self.ledger is None:
                continue
            if state.outcome == Outcome.FORWARDED:
                state.outcome = Outcome.ABORTED
                state.error = SHUTDOWN
            status = flow.response.status_code if flow.response is not None else None
            try:
                self.ledger.submit(self._prepare(flow, state, status, partial=True))
            except Exception as e:
                log.warning("aispendtrack: ledger row for flow %s not written at shutdown: %s", flow.id, e)

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or flow.error or not flow.live:
            return
        self.inflight[flow.id] = flow
        body, encoded = request_body(flow.request)
        info = meter.request_info(state.api, body)
        # A path-routed API (Gemini) serves the path's model, whatever the body names.
        state.request_model = routing.path_model(flow.request.path).model or info.model
        state.stream = (info.stream or registry.path_streams(flow.request.path)  # Gemini: the path says so
                        or registry.always_streams(state.api))
        if flow.response:  # refused (401, 403, 429): the row keeps what the client asked for
            return
        if info.include_usage is True:
            state.expect_usage = True
        if (
            info.stream
            and not encoded
            and registry.include_usage(state.api)
            and info.include_usage is not True
            and self.rt.config.metering.inject_stream_usage.get(state.provider, False)
            and (state.provider != "azure" or azure.takes_stream_options(flow.request.path))
        ):
            injected = meter.inject_stream_usage(body)
            if injected is not None:
                flow.request.content = injected
                state.strip_usage = state.expect_usage = True

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.outcome != Outcome.FORWARDED or flow.response is None or not flow.live:
            return
        state.ttfb = time.time()
        if batches.observe(flow, state, lambda: self._commit_at_end(flow)):
            return
        resp = flow.response
        content_type = resp.headers.get("content-type", "").lower()
        sse = "text/event-stream" in content_type
        ndjson = "ndjson" in content_type  # Ollama: application/x-ndjson
        eventstream = "application/vnd.amazon.eventstream" in content_type  # Bedrock's binary frames
        gemini_array = registry.json_array_stream(state.api, flow.request.path) and not sse
        if not (sse or ndjson or eventstream or gemini_array):
            return
        stream_meter = meter.StreamMeter(
            state.provider,
            state.api,
            content_encoding=resp.headers.get("content-encoding"),
            strip_usage_chunk=state.strip_usage and resp.status_code == 200,
            sse=sse,
            ndjson=ndjson,
            eventstream=eventstream,
            max_event=self.max_event,
        )
        resp.stream = StreamObserver(stream_meter, lambda: self._commit_at_end(flow),
                                     expect_usage=state.expect_usage and resp.status_code == 200)

    async def response(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or flow.response is None or not flow.live:
            return  # a loaded flow (`-r`, mitmweb's Open) is a record of a call, not a call
        if state.recorded:  # committed at the end of the stream; make sure it finished
            pending = getattr(flow.response.stream, "pending", None)
            if pending is not None and not pending.done():
                try:
                    await asyncio.wrap_future(pending)
                except Exception as e:
                    log.warning("aispendtrack: ledger row for flow %s not written: %s", flow.id, e)
            return
        status = flow.response.status_code
        if state.outcome == Outcome.FORWARDED and status >= 400:
            state.outcome = Outcome.UPSTREAM_ERROR
        await self._record(flow, state, status, partial=False)

    async def error(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or state.recorded or not flow.live:
            return
        msg = flow.error.msg if flow.error else ""
        observer = flow.response.stream if flow.response is not None else None
        if isinstance(observer, StreamObserver) and state.outcome == Outcome.FORWARDED and observer.complete:
            # The stream's terminal event already went out: the client has the whole answer
            # (SDKs hang up on `[DONE]` before the upstream's last empty chunk), so this is a
            # normal, complete call.
            await self._record(flow, state, flow.response.status_code, partial=False)
            return
        if state.outcome == Outcome.FORWARDED:
            state.outcome = Outcome.ABORTED if msg.startswith(CLIENT_GONE) else Outcome.UPSTREAM_ERROR
        if isinstance(observer, StreamObserver) and observer.gave_up:
            msg += f" The usage chunk had not come {HOLD_SECONDS:g} s after finish_reason."
        state.error = msg
        # A streamed response's status line already went out; otherwise the client got
        # mitmproxy's own 502, unless it had left already.
        if isinstance(observer, StreamObserver):
            status = flow.response.status_code
        else:
            status = None if state.outcome == Outcome.ABORTED else 502
        await self._record(flow, state, status, partial=True)

    async def _record(self, flow: http.HTTPFlow, state: FlowState, status: int | None, *, partial: bool) -> None:
        row = self._prepare(flow, state, status, partial=partial)
        try:
            await self.ledger.write(row)
        except Exception as e:
            log.warning("aispendtrack: ledger row for flow %s not written: %s", flow.id, e)

    def _commit_at_end(self, flow: http.HTTPFlow) -> concurrent.futures.Future | None:
        """Row of a stream whose terminal event was seen, committed before that event is sent.

        Runs inside the stream callable (sync, on the event loop): never raises; waits at
        most COMMIT_WAIT, after which the `response` hook keeps waiting asynchronously.
        """
        fut = None
        try:
            state = state_of(flow)
            if state is None or state.recorded or flow.response is None or self.ledger is None:
                return None
            status = flow.response.status_code
            if state.outcome == Outcome.FORWARDED and status >= 400:
                state.outcome = Outcome.UPSTREAM_ERROR
            fut = self.ledger.submit(self._prepare(flow, state, status, partial=False))
            fut.result(COMMIT_WAIT)
        except Exception as e:
            log.warning("aispendtrack: ledger row for flow %s not committed at stream end: %r", flow.id, e)
        return fut

    def _prepare(self, flow: http.HTTPFlow, state: FlowState, status: int | None, *, partial: bool) -> dict | list:
        """The flow's row (a results download's: one per model); marks it recorded, annotates the flow."""
        state.recorded = True
        self.inflight.pop(flow.id, None)
        if self.rt.presence is not None:
            self.rt.presence.count -= 1
        rows = batches.rows_of(flow, self.build_row(flow, state, status, partial=partial), self.pricer)
        for each in rows:
            self.rt.session.add(each)
        annotate(flow, rows)
        return rows if len(rows) > 1 else rows[0]

    def build_row(self, flow: http.HTTPFlow, state: FlowState, status: int | None, *, partial: bool,
                  metered: meter.Metered | None = None) -> dict:
        """The flow's row; `metered` is usage read elsewhere (a Realtime response's)."""
        now = time.time()
        metered, streamed = (metered, False) if metered is not None else response_usage(flow, state)
        if metered is not None and partial and metered.has_usage:
            metered.partial = True
        model = (metered.model if metered else None) or state.request_model
        if state.provider == "azure":  # [azure.deployments] names the model where the answer names no known one
            model = azure.model_to_price(self.pricer, self.rt.config.azure.deployments, flow.request.path,
                                         metered.model if metered else None, state.request_model)
        if metered is not None and metered.has_usage:
            priced = self.pricer.price(
                metered, model, state.provider, when=datetime.fromtimestamp(state.start, UTC)
            )
            cost, pricing, source = priced.cost_usd, priced.pricing, priced.source
        else:
            cost, pricing, source = None, "unmetered", None
        m = metered if metered is not None and metered.has_usage else meter.Metered()
        ttfb = state.ttfb
        return {
            "ts": state.start,  # epoch seconds: the ledger's writer thread formats it
            "flow_id": flow.id,
            "key_id": state.key_id,
            "key_hint": state.key_hint,
            "account": state.account,
            "provider": state.provider,
            "api": state.api,
            "model": model,
            "request_model": state.request_model,
            "method": flow.request.method,
            "path": flow.request.path.split("?", 1)[0],
            "status": status,
            "outcome": state.outcome,
            "streamed": bool(streamed),
            "partial": bool(m.partial or (partial and streamed)),
            "input_tokens": m.input_tokens,
            "output_tokens": m.output_tokens,
            "cache_read_tokens": m.cache_read_tokens,
            "cache_write_tokens": m.cache_write_tokens,
            "reasoning_tokens": m.reasoning_tokens,
            "usage_json": m.details or None,
            "cost_usd": cost,
            "pricing": pricing,
            "cost_source": source,
            "latency_ms": round((now - state.start) * 1000, 3),
            "ttfb_ms": round((ttfb - state.start) * 1000, 3) if ttfb else None,
            "error": state.error or (metered.invalid or metered.error if metered else None),
            "reservation_id": state.reservation_id,
            "tags": state.tags,
        }
