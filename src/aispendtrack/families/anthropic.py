"""Anthropic's Messages API, direct and as Claude on Vertex AI, and Anthropic's error format."""

from __future__ import annotations

import re

from aispendtrack.families.base import ErrorFormat, Family
from aispendtrack.families.openai import max_tokens

_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error", 400: "invalid_request_error"}


def _error(status: int, message: str, code: str) -> dict:
    return {"type": "error", "error": {"type": _TYPES.get(status, "api_error"), "message": message}}


FORMATS = (ErrorFormat("anthropic", 20, _error, providers=frozenset({"anthropic"})),)
FAMILIES = (
    Family("messages", (
        re.compile(r"/messages/?$"),
        # Claude on Vertex AI: Anthropic's Messages shapes behind Vertex's own verbs
        re.compile(r"/publishers/anthropic/models/(?!count-tokens:)[^/]+:(stream)?rawPredict$", re.IGNORECASE),
    ), 53, provider="anthropic", shape="anthropic", usage="anthropic", max_tokens=max_tokens),
)
HOSTS = {"api.anthropic.com": "anthropic"}
