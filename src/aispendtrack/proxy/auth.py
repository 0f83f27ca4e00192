"""Authentication: every provider-bound request carries a valid AiSpendTrack key.

Decided in `requestheaders`, so a rejected request's body is never parsed and, with lazy
upstream connections, no connection to the provider is opened for it. The key header is
removed from every request — valid or not, provider-bound or not — before mitmweb, a
saved flow or any upstream sees it, and so is a key sent by mistake as a query parameter
of that name (it would otherwise reach the provider and every URL log). Cases answered
with 401 in the provider's own error format: header missing, several key headers, not
`ask_` + 32 characters, unknown key, revoked key, expired key, rotated-out secret. A
valid key without the `calls` permission is answered 403 (outcome `forbidden`). A
SigV4 signature (Bedrock) that covers one of the gateway's own headers is answered 400:
removing the header would break the signature (`auth/sigv4.py`). A key
created, rotated or revoked is in force on the very next request (`KeyCache.fresh`).
"""

from __future__ import annotations

import logging

from mitmproxy import http

from aispendtrack.proxy import providers
from aispendtrack.proxy.state import FlowState, Runtime, reject
from aispendtrack.auth import sigv4
from aispendtrack.auth.header import HEADER, parse_header
from aispendtrack.auth.records import refusal
from aispendtrack.proxy.webview import MARK_REJECTED, MARK_UNAVAILABLE
from aispendtrack.store.ledger_schema import Outcome

log = logging.getLogger(__name__)

_HEADER_BYTES = HEADER.encode()


def take_header(headers: http.Headers) -> list[str]:
    """The key header's values, removed from `headers`: `get_all` + `del` in one pass over
    the raw fields (the same case-insensitive match and decoding, a fraction of the cost)."""
    fields = headers.fields
    values = [v for k, v in fields if k.lower() == _HEADER_BYTES]
    if not values:
        return []
    headers.fields = tuple(f for f in fields if f[0].lower() != _HEADER_BYTES)
    return [v.decode("utf-8", "surrogateescape") for v in values]


def take_query_key(req: http.Request) -> bool:
    """Remove `x-aispendtrack-key` query parameters (any case); True if there were any."""
    if "aispendtrack" not in req.path.lower():
        return False  # parsing the query string costs more than this whole check
    query = req.query
    names = {name for name in query.keys() if name.strip().lower() == HEADER}
    for name in names:
        del query[name]
    return bool(names)


class Auth:
    """Authenticates provider-bound flows and records who made them in their `FlowState`.

    Needs a ready `Runtime` (config and key cache); without one it only strips the header.
    """

    def __init__(self, rt: Runtime):
        self.rt = rt

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        values = take_header(flow.request.headers)
        in_query = take_query_key(flow.request)
        if flow.response or flow.error or not flow.live or not self.rt.ready:
            return
        target = providers.identify(flow, self.rt.config)
        if target is None:
            return
        state = self.rt.start_flow(flow, target)
        req = flow.request
        if signed := sigv4.gateway_headers_signed(req.headers.get_all("authorization"), req.path.partition("?")[2]):
            reject(flow, 400, f"AiSpendTrack: the request's AWS SigV4 signature covers {', '.join(signed)}, which "
                   "the gateway removes before forwarding, so AWS would refuse the signature: add the header after "
                   "signing (botocore: in a before-send event handler)", "signed_gateway_header",
                   outcome=Outcome.REJECTED, marker=MARK_REJECTED)
            return
        try:
            if flow.is_replay == "request":
                await self.rt.keycache.fresh()
                reason = self._reauthorise(state)
            else:
                reason = await self._authorise(values, state)
        except Exception as e:
            if lost := self.rt.health.lost:  # said once in the log; retrying cannot help until restarted
                reject(flow, 503, f"AiSpendTrack could not read its key store: {lost}", "keys_unavailable",
                       outcome=Outcome.REJECTED, marker=MARK_UNAVAILABLE, headers={"x-should-retry": "false"})
                return
            log.warning("aispendtrack: key store unavailable: %s", e)
            reject(flow, 503, "AiSpendTrack could not read its key store; try again", "keys_unavailable",
                   outcome=Outcome.REJECTED, marker=MARK_UNAVAILABLE, headers={"retry-after": "1"})
            return
        if reason is not None:
            if in_query and not values:
                reason = f"{HEADER} was sent in the query string (removed, not used): send it as a header"
            reject(flow, 401, f"AiSpendTrack: {reason}", "invalid_api_key", outcome=Outcome.REJECTED,
                   marker=MARK_REJECTED)
        elif "calls" not in state.permissions:
            message = f"AiSpendTrack: key {state.key_id} may not make API calls (it has no calls permission)"
            reject(flow, 403, message, "permission_denied", outcome=Outcome.FORBIDDEN, marker=MARK_REJECTED)

    async def _authorise(self, values: list[str], state: FlowState) -> str | None:
        key, reason = parse_header(values)
        if key is None:
            return reason
        verdict = await self.rt.keycache.lookup_fresh(key)
        if verdict.record is not None:
            state.identify(verdict.record)
        return verdict.reason

    def _reauthorise(self, state: FlowState) -> str | None:
        # A replayed flow no longer carries the key: trust the key id recorded when the
        # original was authorised, if that key is still usable now.
        key_id = state.key_id
        record = self.rt.keycache.by_id.get(key_id) if key_id else None
        if record is None:
            return "replayed flow has no authorised AiSpendTrack key on record"
        # `by_id` holds the key's newest secret: usable now if that one is.
        if (reason := refusal(record)) is not None:
            return reason
        state.identify(record)
        return None
