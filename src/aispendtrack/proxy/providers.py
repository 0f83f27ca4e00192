"""Which provider and API a flow is bound for, and how that provider spells an error.

Known hosts name the provider (`[providers]` in mitm.toml: exact hosts first, then glob
patterns such as `*.openai.azure.com`, see `hostpattern`). Any other upstream — a
self-hosted OpenAI-compatible server, a test double, a corporate egress — is named
explicitly under `[upstreams]`, or else recognised by the API shape of its path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mitmproxy import http
from mitmproxy.net.http import url
from mitmproxy.proxy.mode_specs import ReverseMode

from aispendtrack import hostpattern
from aispendtrack.config import Config

# API shape → the provider that defines it; used when only the path can tell.
SHAPE_PROVIDER = {
    "chat": "openai",
    "responses": "openai",
    "embeddings": "openai",
    "completions": "openai",
    "messages": "anthropic",
    "generate": "google",
    "ollama-chat": "ollama",
    "ollama-generate": "ollama",
    "ollama-embed": "ollama",
    "ollama-embeddings": "ollama",
    "bedrock-converse": "aws",
    "bedrock-converse-stream": "aws",
    "bedrock-invoke": "aws",
    "bedrock-invoke-stream": "aws",
    "realtime": "openai",
}

# Ollama's native API sits at the root (`/api/chat`), or under a path prefix; OpenRouter's
# `/api/v1/chat/completions` is matched by the OpenAI patterns first.
_PATH_APIS = [
    # Bedrock: /model/<model id, percent-encoded>/<operation>; never matched by the patterns below
    (re.compile(r"^/model/[^/]+/converse$"), "bedrock-converse"),
    (re.compile(r"^/model/[^/]+/converse-stream$"), "bedrock-converse-stream"),
    (re.compile(r"^/model/[^/]+/invoke$"), "bedrock-invoke"),
    (re.compile(r"^/model/[^/]+/invoke-with-response-stream$"), "bedrock-invoke-stream"),
    # Batches (proxy/batches.py): results downloads are metered, the batch objects pass
    (re.compile(r"/files/[^/]+/content/?$"), "batch"),
    (re.compile(r"/messages/batches/[^/]+/results/?$"), "batch"),
    (re.compile(r"/batches(/[^/]+(/cancel)?)?/?$"), "batches"),
    (re.compile(r"/v1/files(/[^/]+)?/?$"), "files"),  # a batch's input file: uploaded, listed, deleted
    (re.compile(r"/chat/completions/?$"), "chat"),
    (re.compile(r"/realtime/?$"), "realtime"),  # a WebSocket session (proxy/realtime.py)
    (re.compile(r"/api/chat/?$"), "ollama-chat"),
    (re.compile(r"/api/generate/?$"), "ollama-generate"),
    (re.compile(r"/api/embed/?$"), "ollama-embed"),
    (re.compile(r"/api/embeddings/?$"), "ollama-embeddings"),
    (re.compile(r"/responses/?$"), "responses"),
    (re.compile(r"/embeddings/?$"), "embeddings"),
    (re.compile(r"/completions/?$"), "completions"),
    (re.compile(r"/messages/?$"), "messages"),
    (re.compile(r":(stream)?generateContent$", re.IGNORECASE), "generate"),
    # Claude on Vertex AI: Anthropic's Messages shapes behind Vertex's own verbs
    (re.compile(r"/publishers/anthropic/models/(?!count-tokens:)[^/]+:(stream)?rawPredict$", re.IGNORECASE),
     "messages"),
]


@dataclass(frozen=True)
class Target:
    provider: str  # genai-prices provider id
    api: str  # chat | responses | embeddings | completions | messages | generate | realtime | ollama-<…> | batch | batches | files
    # | bedrock-<converse|converse-stream|invoke|invoke-stream> | other
    shape: str  # openai | anthropic | google | ollama | bedrock: error format and usage dialect


def api_of(path: str) -> str:
    path = path.split("?", 1)[0]
    for pattern, api in _PATH_APIS:
        if pattern.search(path):
            return api
    return "other"


def shape_of(provider: str, api: str) -> str:
    if api.startswith("ollama-"):
        return "ollama"  # Ollama's OpenAI-compatible /v1 paths speak the OpenAI shape
    if api.startswith("bedrock-") or provider == "aws":
        return "bedrock"
    if api == "messages" or provider == "anthropic":
        return "anthropic"
    if api == "generate" or provider in ("google", "google-vertex"):
        return "google"
    return "openai"


def _configured(config: Config, host: str, port: int) -> str | None:
    host = host.lower()
    if host.endswith("."):
        host = host.rstrip(".")
    return (
        config.upstreams.get(f"{host}:{port}")
        or config.upstreams.get(host)
        or config.providers.get(f"{host}:{port}")
        or config.providers.get(host)
        or hostpattern.lookup(config.upstreams, host, port)
        or hostpattern.lookup(config.providers, host, port)
    )


def _named_elsewhere(flow: http.HTTPFlow, config: Config) -> str | None:
    """The provider named by the TLS SNI or the Host header when the connection target is
    something else: `CONNECT 1.2.3.4:443` with SNI api.openai.com must not slip past."""
    req = flow.request
    sni = flow.client_conn.sni
    if sni and (provider := _configured(config, sni, req.port)):
        return provider
    authority = req.host_header
    if authority:
        try:
            host, port = url.parse_authority(authority, check=False)
        except ValueError:
            return None
        return _configured(config, host, port or req.port)
    return None


def identify(flow: http.HTTPFlow, config: Config) -> Target | None:
    """The provider target of a flow, or None when the flow is not provider-bound.

    Every flow on a reverse listener is provider-bound; on other listeners a flow is
    provider-bound if its target host, its TLS SNI or its Host header names a configured
    host (case, trailing dot and default port do not matter), and everything else passes
    through untouched.
    """
    req = flow.request
    provider = _configured(config, req.host, req.port)
    reverse = isinstance(flow.client_conn.proxy_mode, ReverseMode)
    if provider is None and not reverse:
        provider = _named_elsewhere(flow, config)
        if provider is None:
            return None
    api = api_of(req.path)
    if provider is None:
        provider = "anthropic" if "/messages/batches" in req.path else SHAPE_PROVIDER.get(api, "openai")
    return Target(provider=provider, api=api, shape=shape_of(provider, api))


_OPENAI_TYPES = {401: "invalid_request_error", 429: "rate_limit_error", 502: "server_error", 503: "server_error"}
_ANTHROPIC_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error",
                    400: "invalid_request_error"}
_GOOGLE_STATUS = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED", 400: "INVALID_ARGUMENT",
                  502: "UNAVAILABLE", 503: "UNAVAILABLE"}


# AWS error codes botocore raises as the client's exceptions (its ClientError `Code`)
_BEDROCK_TYPES = {400: "ValidationException", 401: "UnrecognizedClientException", 403: "AccessDeniedException",
                  429: "ThrottlingException", 502: "ServiceUnavailableException", 503: "ServiceUnavailableException"}


def error_body(shape: str, status: int, message: str, code: str) -> bytes:
    """An error body the provider's official SDK parses into its own exception."""
    if shape == "bedrock":  # AWS's JSON protocol; the code also goes in x-amzn-ErrorType
        body = {"__type": _BEDROCK_TYPES.get(status, "InternalServerException"), "message": message}
    elif shape == "ollama":
        body = {"error": message}  # what Ollama itself answers, and ollama-python reads
    elif shape == "anthropic":
        body = {"type": "error", "error": {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message}}
    elif shape == "google":
        body = {"error": {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}}
    else:
        body = {
            "error": {
                "message": message,
                "type": _OPENAI_TYPES.get(status, "invalid_request_error"),
                "param": None,
                "code": code,
            }
        }
    return json.dumps(body).encode()


def error_response(shape: str, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> http.Response:
    aws = {"x-amzn-ErrorType": _BEDROCK_TYPES.get(status, "InternalServerException")} if shape == "bedrock" else {}
    return http.Response.make(
        status, error_body(shape, status, message, code), {"content-type": "application/json", **aws, **(headers or {})}
    )
