"""Gemini's generateContent / streamGenerateContent (Google AI and Vertex AI) and Google's
error format."""

from __future__ import annotations

import re

from aispendtrack.families.base import ErrorFormat, Family

_STATUS = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED", 400: "INVALID_ARGUMENT",
           502: "UNAVAILABLE", 503: "UNAVAILABLE"}


def _error(status: int, message: str, code: str) -> dict:
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


def max_tokens(body: dict) -> list:
    gen = body.get("generationConfig")
    return [gen.get("maxOutputTokens")] if isinstance(gen, dict) else []


FORMATS = (ErrorFormat("google", 10, _error, providers=frozenset({"google", "google-vertex"})),)
# the model is named by the path (`…/models/<model>:generateContent`, read by limits.routing)
FAMILIES = (
    Family("generate", (re.compile(r":(stream)?generateContent$", re.IGNORECASE),), 54, provider="google",
           shape="google", usage="gemini", stream_marker="streamGenerateContent", max_tokens=max_tokens),
)
VERTEX_HOSTS = ("aiplatform.googleapis.com", "*-aiplatform.googleapis.com", "aiplatform.*.rep.googleapis.com")
# Google AI, and Vertex AI's global, regional and regional-endpoint hosts
HOSTS = {"generativelanguage.googleapis.com": "google", **dict.fromkeys(VERTEX_HOSTS, "google")}
