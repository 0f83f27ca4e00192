"""Which provider and API a flow is bound for, and how that provider spells an error.

Known hosts name the provider (`[providers]` in mitm.toml: exact hosts first, then glob
patterns such as `*.openai.azure.com`, see `hostpattern`). Any other upstream — a
self-hosted OpenAI-compatible server, a test double, a corporate egress — is named
explicitly under `[upstreams]`, or else recognised by the API shape of its path. What each
API family looks like (paths, default provider, error format) is declared in
`aispendtrack.families`; this module asks its registry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mitmproxy import http
from mitmproxy.net.http import url
from mitmproxy.proxy.mode_specs import ReverseMode

from aispendtrack import hostpattern
from aispendtrack.config import Config
from aispendtrack.families import registry


@dataclass(frozen=True)
class Target:
    provider: str  # genai-prices provider id
    api: str  # a registered family's name (chat, messages, generate, ollama-chat, bedrock-converse, …) or other
    shape: str  # a registered error format: openai | anthropic | google | ollama | bedrock


def api_of(path: str) -> str:
    """The API family of a path (see `aispendtrack.families`), or "other"."""
    family = registry.match(path)
    return family.name if family else "other"


def shape_of(provider: str, api: str) -> str:
    """The error format a call speaks: its family's or its provider's."""
    return registry.shape(provider, api)


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
        provider = registry.provider_for(api, req.path)
    return Target(provider=provider, api=api, shape=shape_of(provider, api))


def error_body(shape: str, status: int, message: str, code: str) -> bytes:
    """An error body the provider's official SDK parses into its own exception."""
    return json.dumps(registry.error_format(shape).body(status, message, code)).encode()


def error_response(shape: str, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> http.Response:
    own = registry.error_format(shape).headers(status)
    return http.Response.make(
        status, error_body(shape, status, message, code), {"content-type": "application/json", **own, **(headers or {})}
    )
