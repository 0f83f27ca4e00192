"""No way around the key: every spelling of a provider's name is provider-bound.

Regular mode (`HTTPS_PROXY`) through a real mitmdump to a TLS upstream stand-in (the fake
provider with its own certificate): a CONNECT to a bare IP with the provider's SNI, a
trailing-dot or upper-case host, a plain-HTTP request with the provider's Host header.
Without a key each gets a 401 and nothing reaches the upstream; with one, a ledger row.
"""

from __future__ import annotations

import socket
import sqlite3
import ssl

import pytest

from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.proxy.auth import HEADER

from .harness import REPO, self_signed

BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'


@pytest.fixture
def tls_fake(tmp_path):
    pem = self_signed(tmp_path / "upstream.pem")
    with FakeProvider(tls=True, certfile=str(pem)) as fake:
        yield fake


@pytest.fixture
def proxy(make_proxy, tls_fake):
    return make_proxy(
        {"regular": "regular@{port}", "reverse": f"reverse:{tls_fake.url}@{{port}}"},
        extra_args=["-s", str(REPO / "tests" / "e2e" / "redirect_upstream.py"), "--set", "ssl_insecure=true"],
        env={"AISPENDTRACK_TEST_UPSTREAM": tls_fake.url},
    )


def http_request(target: str, host: str, key: str | None) -> bytes:
    extra = f"{HEADER}: {key}\r\n" if key else ""
    return (f"POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n").encode() + BODY


def read_all(sock) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def via_connect(proxy, connect: str, sni: str, host: str, key: str | None) -> bytes:
    """CONNECT `connect`, TLS with `sni` (verified against the mitmproxy CA), one request."""
    with socket.create_connection(("127.0.0.1", proxy.ports["regular"]), timeout=20) as s:
        s.sendall(f"CONNECT {connect} HTTP/1.1\r\nHost: {connect}\r\n\r\n".encode())
        assert b" 200 " in s.recv(1024)
        ctx = ssl.create_default_context(cafile=str(proxy.ca_cert))
        ctx.check_hostname = False  # the CA signs for the SNI; a bare-IP CONNECT has no name to check
        with ctx.wrap_socket(s, server_hostname=sni) as tls:
            tls.sendall(http_request("/v1/chat/completions", host, key))
            return read_all(tls)


def plain(proxy, listener: str, target: str, host: str, key: str | None) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.ports[listener]), timeout=20) as s:
        s.sendall(http_request(target, host, key))
        return read_all(s)


def status(resp: bytes) -> int:
    return int(resp.split(b" ", 2)[1])


def rows(db_path) -> list[dict]:
    with sqlite3.connect(db_path) as c:
        c.row_factory = sqlite3.Row
        return [dict(r) for r in c.execute("SELECT provider, outcome, key_id, input_tokens FROM calls ORDER BY id")]


def dodges(proxy, tls_fake):
    ip_target = f"127.0.0.1:{tls_fake.port}"
    return {
        "connect-ip-with-provider-sni": lambda key: via_connect(proxy, ip_target, "api.openai.com", "api.openai.com", key),
        "connect-ip-sni-upper-case": lambda key: via_connect(proxy, ip_target, "API.OPENAI.COM", ip_target, key),
        "connect-trailing-dot": lambda key: via_connect(proxy, "api.openai.com.:443", "api.openai.com",
                                                        "api.openai.com.", key),
        "connect-upper-case": lambda key: via_connect(proxy, "API.OpenAI.com:443", "API.OpenAI.com",
                                                      "API.OpenAI.com", key),
        "plain-http-trailing-dot": lambda key: plain(proxy, "regular", "http://api.openai.com.:80/v1/chat/completions",
                                                     "api.openai.com.", key),
        "plain-http-ip-with-provider-host": lambda key: plain(proxy, "regular", f"http://{ip_target}/v1/chat/completions",
                                                              "api.openai.com", key),
    }


@pytest.mark.parametrize("case", ["connect-ip-with-provider-sni", "connect-ip-sni-upper-case", "connect-trailing-dot",
                                  "connect-upper-case", "plain-http-trailing-dot", "plain-http-ip-with-provider-host"])
def test_regular_mode_dodges_need_a_key_and_are_metered(proxy, tls_fake, account_key, db_path, case):
    call = dodges(proxy, tls_fake)[case]
    resp = call(None)
    assert status(resp) == 401, resp[:300]
    assert tls_fake.received == []
    resp = call(account_key.key)
    assert status(resp) == 200, resp[:300]
    (received,) = tls_fake.received
    assert received.header(HEADER) is None
    assert [(r["provider"], r["outcome"]) for r in rows(db_path)] == [("openai", "rejected"), ("openai", "forwarded")]
    assert rows(db_path)[1]["key_id"] == account_key.id and rows(db_path)[1]["input_tokens"] > 0


def test_reverse_mode_host_header_does_not_choose_the_provider(proxy, tls_fake, account_key, db_path):
    """Every reverse flow is provider-bound; the target, not the client's Host, says which."""
    assert status(plain(proxy, "reverse", "/v1/chat/completions", "API.ANTHROPIC.COM.", None)) == 401
    assert tls_fake.received == []
    assert status(plain(proxy, "reverse", "/v1/chat/completions", "api.anthropic.com", account_key.key)) == 200
    assert [r["provider"] for r in rows(db_path)] == ["openai", "openai"]
