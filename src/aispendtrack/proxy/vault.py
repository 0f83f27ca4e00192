"""Provider keys from the vault, set upstream by the gateway (issue 24).

`VaultView` holds the opened credentials in memory, reloaded with the key records
(`KeyCache._load`) whenever the store's `vault` signal (or any key change) is seen, so a
credential set, removed or resealed is in force on the next request. A record already
opened is not opened again while its sealed text is unchanged: a rotation that drops an old
master key from the key file never breaks a running gateway between two reloads.

`VaultCheck` (before the limits: a refused call counts nothing) refuses, for an account in
`require` mode, a client that sends its own provider credential (403) or a call for a
provider with no stored key (403); and, in either mode, a call whose stored credential does
not decrypt (503 naming the fix: never forwarded without credentials or with the client's).
`VaultInject` (after auth, limits and budgets) replaces whatever credential the client sent
by the stored one, in the header the provider expects; `FlowState.injected` names it, so
`redact.Redact` hides it from mitmweb, saved flows and logs even when client keys are kept.
"""

from __future__ import annotations

import logging

from mitmproxy import http

from aispendtrack import hostpattern
from aispendtrack.families.google import VERTEX_HOSTS
from aispendtrack.proxy.redact import CREDENTIAL_HEADERS, QUERY_KEYS, REDACTED
from aispendtrack.proxy.state import FlowState, Runtime, reject, state_of
from aispendtrack.proxy.webview import MARK_REJECTED, MARK_UNAVAILABLE
from aispendtrack.store.ledger_schema import Outcome

log = logging.getLogger(__name__)

# How each provider takes its key; every other one: `Authorization: Bearer` (OpenAI's shape).
HEADER_OF = {"anthropic": "x-api-key", "azure": "api-key", "google": "x-goog-api-key"}


def _vertex(host: str) -> bool:
    """Vertex AI's hosts (provider `google`, like the Gemini API, in genai-prices' ids)."""
    return any(hostpattern.matches(pattern, host) for pattern in VERTEX_HOSTS)


PLACEHOLDER = "vault"


def _is_placeholder(value: str) -> bool:
    token = value.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token in ("", PLACEHOLDER) or value.endswith(REDACTED)  # a replay of a redacted flow


def client_credentials(request: http.Request) -> list[str]:
    """The names of the provider credentials the client sent (placeholders aside)."""
    sent = [name for name in CREDENTIAL_HEADERS
            if any(not _is_placeholder(v) for v in request.headers.get_all(name))]
    if "key=" in request.path:
        sent += [f"?{name}=" for name in QUERY_KEYS if any(not _is_placeholder(v) for v in request.query.get_all(name))]
    return sent


def _pending(flow: http.HTTPFlow) -> FlowState | None:
    state = state_of(flow)
    if flow.response or flow.error or not flow.live or state is None or not state.identified:
        return None
    return state


class VaultCheck:
    def __init__(self, rt: Runtime):
        self.rt = rt

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        view = self.rt.vault
        if view is None or (state := _pending(flow)) is None:
            return
        entry = view.find(state.account_id, state.key_id, state.provider)
        if view.mode(state.account_id) == "require":
            if sent := client_credentials(flow.request):
                message = (f"AiSpendTrack: account {state.account} keeps its provider keys in the gateway's vault "
                           f"(mode require): the client must not send one ({', '.join(sent)} was sent); remove it "
                           f"or send {PLACEHOLDER!r}, the gateway sets the {state.provider} key")
                reject(flow, 403, message, "provider_key_not_allowed", outcome=Outcome.FORBIDDEN, marker=MARK_REJECTED)
                return
            if entry is None:
                message = (f"AiSpendTrack: no {state.provider} key stored for account {state.account} (mode require); "
                           f"store one with: aispendtrack providers set {state.account} {state.provider}")
                reject(flow, 403, message, "provider_key_missing", outcome=Outcome.FORBIDDEN, marker=MARK_REJECTED)
                return
        if entry is not None and entry.secret is None:
            message = (f"AiSpendTrack: the stored {state.provider} key ({entry.hint}) of account {state.account} "
                       f"cannot be used, so the call was not sent: {entry.problem}; check with: aispendtrack "
                       "providers list")
            reject(flow, 503, message, "provider_key_unavailable", outcome=Outcome.REJECTED, marker=MARK_UNAVAILABLE,
                   headers={"x-should-retry": "false"})


class VaultInject:
    def __init__(self, rt: Runtime):
        self.rt = rt

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.request.stream:  # the headers go upstream before `request`
            self._inject(flow)

    def request(self, flow: http.HTTPFlow) -> None:
        self._inject(flow)

    def _inject(self, flow: http.HTTPFlow) -> None:
        view = self.rt.vault
        if view is None or (state := _pending(flow)) is None or state.injected:
            return
        entry = view.find(state.account_id, state.key_id, state.provider)
        if entry is None or entry.secret is None:
            return  # no credential stored (inject mode): the client's goes; one that fails: refused in VaultCheck
        request = flow.request
        for name in CREDENTIAL_HEADERS:
            if name in request.headers:
                del request.headers[name]
        if "key=" in request.path:
            query = request.query
            for name in QUERY_KEYS:
                query.pop(name, None)
        header = HEADER_OF.get(state.provider, "authorization")
        if header == "x-goog-api-key" and _vertex(request.pretty_host):
            header = "authorization"  # Vertex AI takes an OAuth access token, Gemini's API an API key
        request.headers[header] = f"Bearer {entry.secret}" if header == "authorization" else entry.secret
        state.injected = header
