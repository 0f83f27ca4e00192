"""OpenAI's API families: Chat Completions, Responses, Embeddings, legacy Completions and the
Realtime WebSocket session; and OpenAI's error format, which every provider without one of
its own speaks too (the OpenAI-compatible ones: Groq, Mistral, OpenRouter, DeepSeek, xAI)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from aispendtrack.families.base import ErrorFormat, Family, PathModel

MAX_OUTPUT_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_TYPES = {401: "invalid_request_error", 429: "rate_limit_error", 502: "server_error", 503: "server_error"}
REALTIME = "/realtime"  # OpenAI Realtime names its model in the query: `/v1/realtime?model=…`


def max_tokens(body: dict) -> list:
    # Anthropic Messages (and Claude on Bedrock, Vertex) spell it `max_tokens` too
    return [body.get(f) for f in MAX_OUTPUT_FIELDS]


def _error(status: int, message: str, code: str) -> dict:
    return {"error": {"message": message, "type": _TYPES.get(status, "invalid_request_error"), "param": None,
                      "code": code}}


def realtime_model(path: str, query: str) -> PathModel | None:
    """The model of a Realtime session: the query's one `model` (a second one could be the
    one the upstream reads)."""
    if not path.rstrip("/").lower().endswith(REALTIME):
        return None
    try:
        values = parse_qs(query, keep_blank_values=True, strict_parsing=False, max_num_fields=64).get("model", [])
    except ValueError:
        return PathModel(problem="the query has too many fields")
    if len(values) > 1:
        return PathModel(problem="the query names model more than once: name one")
    if not values:
        return PathModel()
    model = values[0]
    if not model or not model.isprintable() or any(c.isspace() for c in model) or "/" in model:
        return PathModel(problem=f"the query's model {model[:80]!r} is not one model name")
    return PathModel(model)


FORMATS = (ErrorFormat("openai", 0, _error),)
FAMILIES = (
    Family("chat", (re.compile(r"/chat/completions/?$"),), 30, shape="openai", usage="openai",
           include_usage=True, max_tokens=max_tokens),
    # a WebSocket session (proxy/realtime.py meters its messages)
    Family("realtime", (re.compile(r"/realtime/?$"),), 31, shape="openai", path_model=realtime_model),
    Family("responses", (re.compile(r"/responses/?$"),), 50, shape="openai", usage="responses",
           max_tokens=max_tokens),
    Family("embeddings", (re.compile(r"/embeddings/?$"),), 51, shape="openai", usage="embeddings"),
    Family("completions", (re.compile(r"/completions/?$"),), 52, shape="openai", usage="openai",
           include_usage=True, max_tokens=max_tokens),
)
# OpenAI and the providers that speak its families (plus the per-resource Azure OpenAI hosts,
# by pattern: `*` = one DNS label, see hostpattern.py)
HOSTS = {
    "api.openai.com": "openai",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral",
    "openrouter.ai": "openrouter",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "x-ai",
    "*.openai.azure.com": "azure",
    "*.cognitiveservices.azure.com": "azure",
    "*.services.ai.azure.com": "azure",
}
