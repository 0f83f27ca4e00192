"""Wire formats spoken by the fake provider (see fakeprovider.py).

Pure functions: a parsed request (:class:`Call`) in, a :class:`Reply` out (a whole body,
or a list of stream frames that the server sends one by one). Shapes follow the
official SDK types (openai 3.57, anthropic 2.14) and the providers' documented output.

Types and helpers live in ``fakewire_core.py``, one module per provider next to it
(``fakewire_openai.py``, ``fakewire_anthropic.py``, ``fakewire_gemini.py``); this module
routes a request to its handler and re-exports them all.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from aispendtrack.demo.fake.wire_anthropic import (
    SIGNATURE, THINKING, anthropic_count_tokens, anthropic_messages, anthropic_models, anthropic_usage,
)
from aispendtrack.demo.fake.wire_core import (
    DEFAULT_MODEL, SSE, Call, Reply, UsageSpec, data_frame, error_body, event_frame, json_reply, prompt_text,
    split_text,
)
from aispendtrack.demo.fake.wire_bedrock import bedrock_converse, bedrock_invoke
from aispendtrack.demo.fake.wire_cloud import azure, route_cloud, vertex_anthropic
from aispendtrack.demo.fake.wire_gemini import gemini_generate, gemini_usage
from aispendtrack.demo.fake.wire_ollama import NDJSON, ollama_chat, ollama_embed, ollama_embeddings, ollama_generate
from aispendtrack.demo.fake.wire_openai import (
    openai_chat, openai_completions, openai_embeddings, openai_models, openai_responses, openai_usage,
)

__all__ = [
    "DEFAULT_MODEL", "HANDLERS", "NDJSON", "SIGNATURE", "SSE", "THINKING", "Call", "Reply", "UsageSpec",
    "anthropic_count_tokens", "anthropic_messages", "anthropic_models", "anthropic_usage", "build",
    "data_frame", "error_body", "event_frame", "gemini_generate", "gemini_usage", "json_reply",
    "openai_chat", "openai_completions", "openai_embeddings", "openai_models", "openai_responses",
    "ollama_chat", "ollama_embed", "ollama_embeddings", "ollama_generate",
    "openai_usage", "prompt_text", "route", "split_text",
]  # fmt: skip


_GEMINI = re.compile(r"^/v1(?:beta|alpha)?/models/([^/:]+):(generateContent|streamGenerateContent)$")
HANDLERS = {"chat": openai_chat, "responses": openai_responses, "embeddings": openai_embeddings,
            "completions": openai_completions, "messages": anthropic_messages,
            "count_tokens": anthropic_count_tokens, "generate": gemini_generate,
            "ollama-chat": ollama_chat, "ollama-generate": ollama_generate, "ollama-embed": ollama_embed,
            "ollama-embeddings": ollama_embeddings, "bedrock-converse": bedrock_converse,
            "bedrock-converse-stream": bedrock_converse, "bedrock-invoke": bedrock_invoke,
            "bedrock-invoke-stream": bedrock_invoke}
_BEDROCK = re.compile(r"^/model/([^/]+)/(converse|converse-stream|invoke|invoke-with-response-stream)$")
_BEDROCK_API = {"converse": "bedrock-converse", "converse-stream": "bedrock-converse-stream",
                "invoke": "bedrock-invoke", "invoke-with-response-stream": "bedrock-invoke-stream"}
_OLLAMA = {"/api/chat": "ollama-chat", "/api/generate": "ollama-generate", "/api/embed": "ollama-embed",
           "/api/embeddings": "ollama-embeddings"}


def route(method: str, path: str, headers: dict[str, str]) -> tuple[str, str, str | None]:
    """(provider, api, path model: Gemini's, Bedrock's) for a request; api "" = unknown route."""
    p = path.split("?", 1)[0].rstrip("/")
    if method == "POST":
        if m := _BEDROCK.match(p):
            return "aws", _BEDROCK_API[m.group(2)], unquote(m.group(1))
        if cloud := route_cloud(path, headers):
            return cloud
        if m := _GEMINI.match(p):
            return "google", "generate", m.group(1)
        if p in _OLLAMA:
            return "ollama", _OLLAMA[p], None
        api = {"/v1/chat/completions": "chat", "/v1/responses": "responses", "/v1/embeddings": "embeddings",
               "/v1/completions": "completions", "/v1/messages": "messages",
               "/v1/messages/count_tokens": "count_tokens"}.get(p, "")
        return ("anthropic" if api in ("messages", "count_tokens") else "openai"), api, None
    if method == "GET" and p == "/v1/models":
        return ("anthropic" if "anthropic-version" in headers else "openai"), "models", None
    if p.startswith("/v1beta") or "key=" in path or "x-goog-api-key" in headers:
        return "google", "", None
    return ("anthropic" if "anthropic-version" in headers else "openai"), "", None


def build(c: Call) -> Reply:
    if c.provider == "azure":
        return azure(c)
    if c.provider == "vertex" and c.api == "messages":
        return vertex_anthropic(c)
    if c.api == "models":
        return anthropic_models(c) if c.provider == "anthropic" else openai_models(c)
    return HANDLERS[c.api](c)
