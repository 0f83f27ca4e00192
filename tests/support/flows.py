"""Flows aimed at a provider, for the proxy steps' tests."""

from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import tflow


def provider_flow(host="api.openai.com", path="/v1/chat/completions", mode="regular", headers=()):
    f = tflow.tflow()
    f.client_conn.proxy_mode = ProxyMode.parse(mode)
    f.request.host, f.request.port, f.request.scheme = host, 443, "https"
    f.request.path = path
    for name, value in headers:
        f.request.headers.add(name, value)
    return f
