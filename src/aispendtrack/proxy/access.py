"""Model allow-lists: a key narrowed to some models may call only those, whichever way the
request names them.

Decided before the limits are counted (`Limiter` waits for this step on narrowed keys),
so a refusal uses nothing, and before anything goes upstream. From the path in
`requestheaders`: a path that names several models (or hides its model behind encoding or
dot segments) is answered 400 for every key; a path-routed model (Gemini, Vertex AI)
outside a narrowed key's list 403. From the body in `request`, for narrowed keys: every
model it names — the body's `model` even where the path decides, each entry of
OpenRouter's `models` fallback list — must be allowed, and a request that lets the
provider choose (`openrouter/auto`, `route` without a list, a preset) is refused. Refusals
are in the provider's own error format and ledgered as `rejected` (400) or `forbidden` (403).
"""

from __future__ import annotations

from mitmproxy import http

from aispendtrack.limits import routing
from aispendtrack.limits.permissions import model_allowed
from aispendtrack.proxy.reqbody import request_body
from aispendtrack.proxy.state import FlowState, Runtime, reject, state_of
from aispendtrack.proxy.webview import MARK_REJECTED
from aispendtrack.store.ledger_schema import Outcome


def refusal(state: FlowState, names: tuple[str, ...] | list[str], unchecked: str | None = None) -> str | None:
    """Why `state`'s key may not make a call naming `names`; None if it may."""
    globs = tuple(state.models)
    allowed = ", ".join(globs)
    if unchecked is not None:
        return f"AiSpendTrack: key {state.key_id} is limited to: {allowed}; {unchecked}"
    if not names:
        return f"AiSpendTrack: key {state.key_id} may not call a request that names no model; it is limited to: {allowed}"
    for name in names:
        if not model_allowed(globs, name):
            return f"AiSpendTrack: key {state.key_id} may not call model {name!r}; it is limited to: {allowed}"
    return None


class Access:
    """Refuses ambiguous model paths, and calls for models outside the key's allow-list."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or flow.response or flow.error or not flow.live:
            return
        path = routing.path_model(flow.request.path)
        if path.problem is not None:
            reject(flow, 400, f"AiSpendTrack: {path.problem}", "ambiguous_model_path", outcome=Outcome.REJECTED,
                   marker=MARK_REJECTED)
        elif path.model is not None and state.models is not None:
            self._refuse(flow, state, refusal(state, [path.model]))

    def request(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or flow.response or flow.error or not flow.live or state.models is None:
            return
        body, _ = request_body(flow.request)
        asked = routing.requested(flow.request.path, routing.parse_body(body))
        self._refuse(flow, state, refusal(state, asked.names, asked.unchecked))

    @staticmethod
    def _refuse(flow: http.HTTPFlow, state: FlowState, message: str | None) -> None:
        if message is not None:
            reject(flow, 403, message, "model_not_allowed", outcome=Outcome.FORBIDDEN, marker=MARK_REJECTED)
