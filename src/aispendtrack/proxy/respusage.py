"""The usage a flow's response reported, as the ledger row takes it (step 4 of the data path)."""

from __future__ import annotations

from mitmproxy import http

from aispendtrack import meter
from aispendtrack.meter.bedrock import tier_headers
from aispendtrack.proxy import batches
from aispendtrack.proxy.observer import StreamObserver
from aispendtrack.proxy.state import FlowState
from aispendtrack.store.ledger_schema import UPSTREAM, Outcome


def response_usage(flow: http.HTTPFlow, state: FlowState) -> tuple[meter.Metered | None, bool]:
    """(usage read from the response, None when none is read from it, whether it streamed).
    Batch calls are not read here: their results are metered as they pass (`batches`).
    A Bedrock response whose headers name a non-standard tier or latency leaves it unpriced."""
    resp = flow.response
    if resp is None or state.outcome not in UPSTREAM or state.api in batches.NOT_METERED:
        return None, state.stream
    if isinstance(resp.stream, StreamObserver):
        return tier_headers(resp.stream.meter.result(), resp.headers), True
    if state.api == "realtime" and resp.status_code == 101:
        # The handshake bills nothing; each response of the session gets its own row.
        return meter.Metered(input_tokens=0, output_tokens=0, has_usage=True,
                             details={"input_tokens": 0, "output_tokens": 0}), False
    if state.outcome != Outcome.FORWARDED or resp.status_code >= 400:
        return None, state.stream
    # The raw body: meter_body decodes with a size cap; mitmproxy's decoding has none.
    body = resp.raw_content or b""
    metered = meter.meter_body(state.provider, state.api, body, content_encoding=resp.headers.get("content-encoding"))
    return tier_headers(metered, resp.headers), False
