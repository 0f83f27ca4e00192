"""Model allow-lists: a key narrowed to some models may call only those.

Decided in `request`, once the body named the model (`Metering.request` records it), and
before anything goes upstream: a call for another model is answered 403 in the provider's
own error format, never forwarded, and ledgered with outcome `forbidden`.
"""

from __future__ import annotations

from mitmproxy import http

from aispendtrack.limits.permissions import model_allowed
from aispendtrack.proxy.state import Runtime, reject, state_of
from aispendtrack.store.ledger_schema import Outcome
from aispendtrack.proxy.webview import MARK_REJECTED


class Access:
    """Refuses calls for models outside the key's allow-list."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or flow.response or flow.error or not flow.live or state.models is None:
            return
        model = state.request_model
        if model_allowed(state.models, model):
            return
        allowed = ", ".join(state.models)
        what = f"model {model!r}" if model else "a request that names no model"
        message = f"AiSpendTrack: key {state.key_id} may not call {what}; it is limited to: {allowed}"
        reject(flow, 403, message, "model_not_allowed", outcome=Outcome.FORBIDDEN, marker=MARK_REJECTED)
