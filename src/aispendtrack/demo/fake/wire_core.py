"""Shared core of the fake provider's wire formats (see fakewire.py): the parsed request
(:class:`Call`), the :class:`Reply`, framing helpers and provider error bodies."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UsageSpec:
    """Tokens every response reports. ``input`` is the TOTAL input (cache included),
    ``output`` the total output (reasoning included) — genai-prices conventions."""

    input: int = 1200
    output: int = 300
    cache_read: int = 400
    cache_write: int = 100
    reasoning: int = 50
    cost: float = 0.00123  # OpenRouter usage.cost (USD)


@dataclass
class Call:
    provider: str  # openai | anthropic | google | ollama | aws (Bedrock)
    api: str  # chat | responses | embeddings | completions | models | messages | count_tokens | generate | ollama-…
    body: dict[str, Any]
    pieces: list[str]  # reply text, split into stream deltas
    usage: UsageSpec
    request_id: str
    model_override: str | None = None
    path_model: str | None = None  # Gemini: model from the path
    stream: bool = False
    sse: bool = True  # Gemini: alt=sse vs JSON array
    flavor: str = ""  # groq | openrouter | deepseek; Ollama: old | cached
    usage_with_choices: bool = False
    target: str = ""  # the request's path and query (Azure: api-version, the /openai/v1/ form)
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def requested_model(self) -> str:
        return self.path_model or str(self.body.get("model") or DEFAULT_MODEL[self.api])

    @property
    def model(self) -> str:
        return self.model_override or self.requested_model

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def rid(self, prefix: str) -> str:
        return prefix + self.request_id.rsplit("-", 1)[-1]


@dataclass
class Reply:
    status: int = 200
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None  # non-streamed
    frames: list[bytes] | None = None  # streamed: one write (and one delay) per frame


DEFAULT_MODEL = {
    "chat": "gpt-4o-mini", "responses": "gpt-4o-mini", "embeddings": "text-embedding-3-small",
    "completions": "gpt-3.5-turbo-instruct", "models": "", "messages": "claude-sonnet-4-6",
    "count_tokens": "claude-sonnet-4-6", "generate": "gemini-2.5-flash",
    "ollama-chat": "llama3.2", "ollama-generate": "llama3.2", "ollama-embed": "all-minilm",
    "ollama-embeddings": "all-minilm",
}
SSE = "text/event-stream; charset=utf-8"


def _j(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def json_reply(obj: Any, status: int = 200, headers=None) -> Reply:
    return Reply(status, body=json.dumps(obj, indent=2).encode() + b"\n", headers=list(headers or []))


def data_frame(obj: Any, eol: bytes = b"\n") -> bytes:
    return b"data: " + (obj if isinstance(obj, bytes) else _j(obj)) + eol + eol


def event_frame(event: str, obj: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _j(obj) + b"\n\n"


def prompt_text(call_api: str, body: dict) -> str:
    """Last user text of a request, for a deterministic echo."""
    def flat(c: Any) -> str:
        if isinstance(c, str):
            return c
        if isinstance(c, list):
            return " ".join(flat(p) for p in c)
        if isinstance(c, dict):
            return flat(c.get("text") or c.get("content") or c.get("parts") or "")
        return ""
    try:
        if call_api in ("chat", "messages", "count_tokens", "ollama-chat") or call_api.startswith("bedrock-"):
            return flat((body.get("messages") or [{}])[-1].get("content"))
        if call_api == "responses":
            inp = body.get("input")
            return flat(inp[-1] if isinstance(inp, list) and inp else inp)
        if call_api in ("ollama-generate", "ollama-embeddings"):
            return flat(body.get("prompt"))
        if call_api == "ollama-embed":
            return flat(body.get("input"))
        if call_api == "completions":
            return flat(body.get("prompt"))
        if call_api == "generate":
            return flat((body.get("contents") or [{}])[-1].get("parts"))
    except (AttributeError, TypeError, IndexError):
        pass
    return ""


def split_text(text: str, n: int) -> list[str]:
    n = max(1, min(n, len(text)))
    q, r = divmod(len(text), n)
    out, i = [], 0
    for k in range(n):
        j = i + q + (1 if k < r else 0)
        out.append(text[i:j])
        i = j
    return out


# ---------------------------------------------------------------- errors
_OPENAI_ERR = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
               403: ("invalid_request_error", None), 404: ("invalid_request_error", "model_not_found"),
               429: ("requests", "rate_limit_exceeded")}
_ANTHROPIC_ERR = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                  404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                  529: "overloaded_error"}
_GOOGLE_ERR = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
               429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def error_body(provider: str, status: int, message: str | None = None) -> dict:
    message = message or f"Fake provider error {status}"
    if provider == "ollama":
        return {"error": message}
    if provider == "aws":
        return {"message": message}
    if provider == "anthropic":
        return {"type": "error", "error": {"type": _ANTHROPIC_ERR.get(status, "api_error"), "message": message}}
    if provider in ("google", "vertex"):
        return {"error": {"code": status, "message": message, "status": _GOOGLE_ERR.get(status, "UNKNOWN")}}
    etype, code = _OPENAI_ERR.get(status, ("server_error", None))
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}
