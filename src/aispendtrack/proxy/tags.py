"""The call's tags (`auth/tags.py`): taken off the request before anything goes upstream,
checked, laid over the key's default tags (a header wins per tag name), kept on the flow's
state for its ledger row. A bad tag header is answered `400`
in the provider's format, never dropped silently (the call would be missing from its
feature's spend) and never forwarded."""

from __future__ import annotations

from mitmproxy import http

from aispendtrack.auth import tags as tagrules
from aispendtrack.proxy.state import Runtime, reject, state_of
from aispendtrack.proxy.webview import MARK_REJECTED
from aispendtrack.store.ledger_schema import Outcome


def take(flow: http.HTTPFlow) -> list[tuple[str, str]]:
    """Remove every tag header from the request; the (name, value) pairs it held."""
    headers = flow.request.headers
    found, kept = [], []
    for name, value in headers.fields:
        lower = name.lower()
        if lower == tagrules.HEADER.encode() or lower.startswith(tagrules.PREFIX.encode()):
            found.append((name.decode("latin-1"), value.decode("utf-8", "replace")))
        else:
            kept.append((name, value))
    if found:
        headers.fields = tuple(kept)
    return found


class Tags:
    def __init__(self, rt: Runtime):
        self.rt = rt

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        found = take(flow)  # ours, whoever the flow goes to
        state = state_of(flow)
        if not found or state is None or flow.response or flow.error or not flow.live:
            return
        tags, why = tagrules.parse_tags(found)
        if why is not None:
            reject(flow, 400, f"AiSpendTrack: {why}", "invalid_tags", outcome=Outcome.REJECTED, marker=MARK_REJECTED)
            return
        state.tags = tagrules.merged(state.tags, tags)  # over the key's defaults (set by auth): the header wins
