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
from dataclasses import dataclass

from mitmproxy import http

from aispendtrack.proxy.redact import CREDENTIAL_HEADERS, QUERY_KEYS, REDACTED
from aispendtrack.proxy.state import FlowState, Runtime, reject, state_of
from aispendtrack.proxy.webview import MARK_REJECTED, MARK_UNAVAILABLE
from aispendtrack.store.ledger_schema import Outcome
from aispendtrack.store.vault import DEFAULT_MODE
from aispendtrack.vault import service

log = logging.getLogger(__name__)

# How each provider takes its key; every other one: `Authorization: Bearer` (OpenAI's shape).
HEADER_OF = {"anthropic": "x-api-key", "azure": "api-key", "google": "x-goog-api-key"}


def _vertex(host: str) -> bool:
    """Vertex AI's hosts (provider `google`, like the Gemini API, in genai-prices' ids)."""
    host = host.lower().rstrip(".")
    return host == "aiplatform.googleapis.com" or host.endswith("-aiplatform.googleapis.com") or (
        host.startswith("aiplatform.") and host.endswith(".rep.googleapis.com"))
# What a client under `require` may send where an SDK insists on some API key.
PLACEHOLDER = "vault"


@dataclass(frozen=True, slots=True)
class Entry:
    secret: str | None  # None: `problem` says why it cannot be used
    problem: str | None
    hint: str


class VaultView:
    """The opened credentials and each account's mode; whole dicts swapped on reload."""

    def __init__(self) -> None:
        self.entries: dict[tuple[int, str, str], Entry] = {}
        self.modes: dict[int, str] = {}
        self._opened: dict[tuple, str] = {}  # (account, provider, key, master key, sealed) → secret
        self._told: set[tuple] = set()  # problems already logged (a reload happens on every key change)

    def load(self, store) -> None:
        # organization admin keys (reconcile) are never for a call: not even opened here
        records = [r for r in store.list_credentials() if not service.is_admin(r.provider)]
        modes = store.vault_modes()
        known = {(r.account_id, r.provider, r.key_id, r.master_key_id, r.sealed): r for r in records}
        opened = {k: v for k, v in self._opened.items() if k in known}
        entries: dict[tuple[int, str, str], Entry] = {}
        todo = [r for k, r in known.items() if k not in opened]
        for r, secret, problem in service.opened(todo) if todo else ():
            if secret is not None:
                opened[(r.account_id, r.provider, r.key_id, r.master_key_id, r.sealed)] = secret
            else:
                if (told := (r.account_id, r.provider, r.key_id, r.sealed, problem)) not in self._told:
                    self._told.add(told)
                    log.warning("aispendtrack: stored %s key of account %s cannot be used: %s", r.provider,
                                r.account, problem)
                entries[(r.account_id, r.key_id or "", r.provider)] = Entry(None, problem, r.hint)
        for k, secret in opened.items():
            r = known[k]
            entries[(r.account_id, r.key_id or "", r.provider)] = Entry(secret, None, r.hint)
        self.entries, self.modes, self._opened = entries, modes, opened

    def find(self, account_id: int, key_id: str, provider: str) -> Entry | None:
        """The key's own credential for `provider`, else its account's."""
        return self.entries.get((account_id, key_id, provider)) or self.entries.get((account_id, "", provider))

    def mode(self, account_id: int) -> str:
        return self.modes.get(account_id, DEFAULT_MODE)


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
