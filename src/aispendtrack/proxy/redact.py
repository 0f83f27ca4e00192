"""Provider API keys stay out of logs and saved flows.

Once a provider-bound request has gone upstream (its `response` or `error` hook), the
provider's credentials on the flow are replaced by a hint: `Authorization`, `x-api-key`,
`api-key`, `x-goog-api-key`, `x-amz-security-token` headers, a Realtime browser socket's
`openai-insecure-api-key.…` subprotocol and a `key` query parameter. Script addons run before
mitmproxy's flow dump (`flow_detail`), mitmweb's view and the `-w` saver, so none of them
sees the secret. The price: a replay from mitmweb carries no provider key, so the
provider answers 401; set `aispendtrack_redact_provider_keys=false` to keep them. A key
the gateway set from its vault (`FlowState.injected`) is hidden whatever that option says
(a replay gets it set again by the vault).
"""

from __future__ import annotations

from mitmproxy import ctx, http

from aispendtrack.proxy.state import state_of

# x-amz-security-token: the session token of temporary AWS credentials (Bedrock), signed along
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key", "x-amz-security-token")
QUERY_KEYS = ("key",)
REDACTED = "(redacted by AiSpendTrack)"
# A browser's OpenAI Realtime socket cannot set headers: its key travels as a WebSocket subprotocol
SUBPROTOCOL_KEY = "openai-insecure-api-key."


def hint(secret: str) -> str:
    """`Bearer sk-...abcd`: enough to tell keys apart, never enough to use one. ASCII only:
    the console shows a header's non-ASCII bytes escaped (`\\xe2\\x80\\xa6`)."""
    scheme, _, token = secret.rpartition(" ")
    shown = f"{token[:3]}...{token[-4:]}" if len(token) > 12 else "..."
    return f"{scheme + ' ' if scheme else ''}{shown} {REDACTED}"


def redact(request: http.Request) -> int:
    """Replace credentials in place; returns how many were replaced."""
    n = 0
    for name in CREDENTIAL_HEADERS:
        values = request.headers.get_all(name)
        if values:
            request.headers.set_all(name, [hint(v) for v in values])
            n += len(values)
    if SUBPROTOCOL_KEY in request.headers.get("sec-websocket-protocol", ""):
        n += _redact_subprotocols(request)
    if "key=" not in request.path:
        return n  # parsing the query string costs more than everything else here
    query = request.query
    for name in QUERY_KEYS:
        values = query.get_all(name)
        if values:
            query.set_all(name, [hint(v) for v in values])
            n += len(values)
    return n


def _redact_subprotocols(request: http.Request) -> int:
    values, n = [], 0
    for value in request.headers.get_all("sec-websocket-protocol"):
        parts = [p.strip() for p in value.split(",")]
        n += sum(p.startswith(SUBPROTOCOL_KEY) for p in parts)
        values.append(", ".join(SUBPROTOCOL_KEY + "redacted" if p.startswith(SUBPROTOCOL_KEY) else p for p in parts))
    request.headers.set_all("sec-websocket-protocol", values)
    return n


class Redact:
    """Runs after metering: the request has been sent, only its record remains."""

    def load(self, loader) -> None:
        loader.add_option(
            "aispendtrack_redact_provider_keys",
            bool,
            True,
            "Replace provider API keys on provider-bound flows once sent, so they reach no log or saved "
            "flow (replays then lack the provider key).",
        )

    def response(self, flow: http.HTTPFlow) -> None:
        self._redact(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._redact(flow)

    @staticmethod
    def _redact(flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None:
            return
        if ctx.options.aispendtrack_redact_provider_keys:
            redact(flow.request)
        elif state.injected:  # the vault's key is never the client's to keep: hidden whatever the option
            values = flow.request.headers.get_all(state.injected)
            if values and not values[0].endswith(REDACTED):
                flow.request.headers.set_all(state.injected, [hint(v) for v in values])
