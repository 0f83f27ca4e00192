"""Which TLS connections the proxy looks inside: provider hosts by name, and TLS that names no host."""

import re
import ssl

import pytest
from mitmproxy import connection, options
from mitmproxy.proxy import events, layer
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers import ClientTLSLayer, HttpLayer, ServerTLSLayer
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow

from aispendtrack.config import Config, parse_config
from aispendtrack.proxy.intercept import NamelessTls, intercept_patterns, looks_like_http, nameless_client_hello
from aispendtrack.proxy.state import Runtime


def client_hello(sni: str | None) -> bytes:
    """The first flight of a real TLS client (Python's ssl), with or without SNI."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_intercept_patterns_cover_provider_hosts_and_reverse_targets():
    config = parse_config({"upstreams": {"10.1.2.3:8000": "openai"}})
    pats = intercept_patterns(config, ["regular@8082", "reverse:http://127.0.0.1:9000@8080"])

    def allowed(hostport):
        return any(re.search(p, hostport) for p in pats)

    assert allowed("api.openai.com:443") and allowed("api.anthropic.com:443")
    assert allowed("127.0.0.1:9000") and allowed("10.1.2.3:8000")
    assert not allowed("example.com:443") and not allowed("api.openai.com.evil.com:443")
    assert not allowed("127.0.0.1:9001")


@pytest.mark.parametrize("hostport", ["api.openai.com.:443", "API.OpenAI.com:443", "API.OPENAI.COM.:8443",
                                      "10.1.2.3.:8000"])
def test_intercept_patterns_match_any_spelling_of_a_provider_host(hostport):
    config = parse_config({"upstreams": {"10.1.2.3:8000": "openai"}})
    pats = intercept_patterns(config, ["regular@8082"])
    assert any(re.search(p, hostport, re.IGNORECASE) for p in pats)
    assert not any(re.search(p, "10.1.2.3:8001", re.IGNORECASE) for p in pats)


def test_nameless_client_hello():
    assert nameless_client_hello(client_hello(None)) is True
    assert nameless_client_hello(client_hello("example.com")) is False
    assert nameless_client_hello(client_hello(None)[:40]) is None  # wait for the rest
    assert nameless_client_hello(b"") is False
    assert nameless_client_hello(b"GET / HTTP/1.1\r\n") is False
    assert nameless_client_hello(b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00") is False  # a record, not a hello


@pytest.mark.parametrize("data, http", [
    (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n", True),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", True),
    (b"GET /", True),
    (b"SSH-2.0-OpenSSH_9.2\r\n", False),
    (b"\x16\x03\x01", False),
    (b"AB\n C", False),
    (b"", False),
])
def test_looks_like_http(data, http):
    assert looks_like_http(data) is http


OURS = intercept_patterns(Config(), ["regular@8082"])


def decide(data: bytes, *, mode="regular@8082", inside_tls=False, sni=None, alpn=None, **opts):
    """What NamelessTls decides for one connection layer, with the addon's allow_hosts unless `opts` say otherwise."""
    addon = NamelessTls(Runtime(config=Config(), keycache=object()))
    with taddons.context(addon) as tctx:
        tctx.configure(addon, mode=[mode], **{"allow_hosts": OURS, **opts})
        client = tflow.tclient_conn()
        context = Context(client, tctx.options)
        context.server = connection.Server(address=("127.0.0.1", 8443))
        if inside_tls:
            ServerTLSLayer(context)
            ClientTLSLayer(context)
        client.proxy_mode, client.sni, client.alpn = ProxyMode.parse(mode), sni, alpn
        nl = layer.NextLayer(context)
        nl.events.append(events.DataReceived(client, data))
        addon.next_layer(nl)
        return nl.layer


def test_tls_without_sni_is_intercepted_where_our_allow_hosts_would_tunnel_it():
    chosen = decide(client_hello(None))
    assert isinstance(chosen, ServerTLSLayer) and isinstance(chosen.child_layer, ClientTLSLayer)


@pytest.mark.parametrize("case, kwargs", [
    ("has SNI: allow_hosts decides", {"data": client_hello("example.com")}),
    ("incomplete hello", {"data": client_hello(None)[:40]}),
    ("not TLS", {"data": b"GET / HTTP/1.1\r\n"}),
    ("reverse listener", {"data": client_hello(None), "mode": "reverse:https://127.0.0.1:9000@8080"}),
    ("option off", {"data": client_hello(None), "aispendtrack_intercept_nameless_tls": False}),
    ("the user's own allow_hosts", {"data": client_hello(None), "allow_hosts": ["^mine:443$"]}),
    ("the user's own ignore_hosts", {"data": client_hello(None), "ignore_hosts": ["^mine:443$"]}),
    ("no allow_hosts at all", {"data": client_hello(None), "allow_hosts": []}),
])
def test_left_to_mitmproxy(case, kwargs):
    assert decide(**kwargs) is None


@pytest.mark.parametrize("data, alpn", [(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"h2"),
                                        (b"POST / HTTP/1.1\r\nHost: api.openai.com\r\n", None),
                                        (b"GET / HTTP/1.1\r\nHost: origin.test\r\n", b"http/1.1")])
def test_inside_tls_without_sni_http_is_read_as_http(data, alpn):
    assert isinstance(decide(data, inside_tls=True, alpn=alpn), HttpLayer)


def test_inside_tls_with_sni_or_without_http_mitmproxy_decides():
    assert decide(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", inside_tls=True, sni="example.com", alpn=b"h2") is None
    assert decide(b"\x00\x01binary", inside_tls=True) is None
