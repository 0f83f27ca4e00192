"""OpenAI Realtime events (WebSocket text messages) → what metering needs (pure).

A session is one WebSocket; the provider bills each response: every server
`response.done` carries that response's `usage` — input (the conversation so far, cached
part included) and output, each split into text, audio and image tokens. Its fields map to
genai-prices' `Usage` the way genai-prices' own `realtime` extractor maps them, so the
text and audio rates apply to their own counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aispendtrack.meter.types import Metered
from aispendtrack.meter.usage import Counts, build

MAX_EVENT = 4 * 1024 * 1024  # a response.done with a long transcript; audio deltas are not parsed
# what the gateway reads; every other event passes unread (audio chunks above all)
CLIENT_TYPES = frozenset({"response.create"})
SERVER_TYPES = frozenset({"response.created", "response.done"})


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    body: dict[str, Any]

    @property
    def response_id(self) -> str | None:
        rid = (self.body.get("response") or {}).get("id") if isinstance(self.body.get("response"), dict) else None
        return rid if isinstance(rid, str) else None

    @property
    def event_id(self) -> str | None:
        eid = self.body.get("event_id")
        return eid if isinstance(eid, str) else None


def _type_of(content: bytes) -> str | None:
    """The event's type from its first bytes, without parsing a megabyte of base64 audio
    (`{"type":"…"` leads every event the API sends; clients may order keys otherwise)."""
    head = content[:200]
    i = head.find(b'"type"')
    if i < 0:
        return None
    rest = head[i + 6:].lstrip(b" \t\r\n:").lstrip()
    if not rest.startswith(b'"'):
        return None
    end = rest.find(b'"', 1)
    return rest[1:end].decode("utf-8", "replace") if end > 0 else None


def event(content: bytes, wanted: frozenset[str]) -> Event | None:
    """The event in one text message when its type is one of `wanted`; None for any other
    message (binary, too large, not JSON, not an object)."""
    if len(content) > MAX_EVENT:
        return None
    quick = _type_of(content)
    if quick is not None and quick not in wanted:
        return None
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or body.get("type") not in wanted:
        return None
    return Event(body["type"], body)


def response_usage(ev: Event) -> tuple[Metered, str | None]:
    """(usage, status) of a `response.done`; usage unknown (not 0) when it carries none."""
    response = ev.body.get("response")
    if not isinstance(response, dict):
        return Metered(), None
    status = response.get("status") if isinstance(response.get("status"), str) else None
    u = response.get("usage")
    if not isinstance(u, dict):
        return Metered(), status
    c = Counts()
    m = build(
        c(u, "input_tokens", total=True),
        c(u, "output_tokens", total=True),
        c(u, "input_token_details", "cached_tokens"),
        None,
        None,
        {
            "input_text_tokens": c(u, "input_token_details", "text_tokens"),
            "input_audio_tokens": c(u, "input_token_details", "audio_tokens"),
            "input_image_tokens": c(u, "input_token_details", "image_tokens"),
            "cache_text_read_tokens": c(u, "input_token_details", "cached_tokens_details", "text_tokens"),
            "cache_audio_read_tokens": c(u, "input_token_details", "cached_tokens_details", "audio_tokens"),
            "cache_image_read_tokens": c(u, "input_token_details", "cached_tokens_details", "image_tokens"),
            "output_text_tokens": c(u, "output_token_details", "text_tokens"),
            "output_audio_tokens": c(u, "output_token_details", "audio_tokens"),
        },
    )
    return c.apply(m), status


def error_event(message: str, code: str, client_event_id: str | None) -> bytes:
    """A Realtime `error` server event, as the API sends one for a refused client event."""
    return json.dumps({
        "type": "error",
        "event_id": "event_aispendtrack",
        "error": {"type": "invalid_request_error", "code": code, "message": message, "param": None,
                  "event_id": client_event_id},
    }).encode()
