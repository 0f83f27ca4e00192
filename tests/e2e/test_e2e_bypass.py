"""No way around the key: every spelling of a provider's name is provider-bound.

Regular mode (`HTTPS_PROXY`) through a real mitmdump to a TLS upstream stand-in (the fake
provider with its own certificate): a CONNECT to a bare IP with the provider's SNI, TLS
without SNI (to a bare IP or a host name) naming the provider only in the Host header
inside, a trailing-dot or upper-case host, a plain-HTTP request with the provider's Host
header. Without a key each gets a 401 and nothing reaches the upstream; with one, a
ledger row.
"""

from __future__ import annotations

import socket
import sqlite3
import ssl

import httpx2
import openai
import pytest

from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.proxy.auth import HEADER

from support.harness import REPO, self_signed

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
        extra_args=["-s", str(REPO / "tests" / "support" / "redirect_upstream.py"), "--set", "ssl_insecure=true"],
        env={"AISPENDTRACK_TEST_UPSTREAM": tls_fake.url},
    )


@pytest.fixture
def regular_only(make_proxy, tls_fake):
    """Regular mode alone: no reverse listener whose target would put the stand-in's address
    among the intercepted hosts."""
    return make_proxy(
        {"regular": "regular@{port}"},
        extra_args=["-s", str(REPO / "tests" / "support" / "redirect_upstream.py"), "--set", "ssl_insecure=true"],
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


def via_connect(proxy, connect: str, sni: str | None, host: str, key: str | None, cafile=None) -> bytes:
    """CONNECT `connect`, TLS with `sni` (None: no SNI; verified against `cafile`, by default
    the mitmproxy CA), one request."""
    with socket.create_connection(("127.0.0.1", proxy.ports["regular"]), timeout=20) as s:
        s.sendall(f"CONNECT {connect} HTTP/1.1\r\nHost: {connect}\r\n\r\n".encode())
        assert b" 200 " in s.recv(1024)
        ctx = ssl.create_default_context(cafile=str(cafile or proxy.ca_cert))
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


@pytest.mark.parametrize("target", ["127.0.0.1", "localhost"])
def test_tls_without_sni_naming_the_provider_inside_needs_a_key(regular_only, tls_fake, account_key, db_path, target):
    """No SNI — a CONNECT to a bare IP, or to a name pointing at the provider's address — and
    the provider only in the Host header inside TLS: intercepted, so that header decides."""
    connect = f"{target}:{tls_fake.port}"
    assert status(via_connect(regular_only, connect, None, "api.openai.com", None)) == 401
    assert tls_fake.received == []
    assert status(via_connect(regular_only, connect, None, "api.openai.com", account_key.key)) == 200
    assert [(r["provider"], r["outcome"], r["key_id"]) for r in rows(db_path)] == [
        ("openai", "rejected", None), ("openai", "forwarded", account_key.id)]


def trusting_proxy_and_upstream(proxy, tls_fake) -> ssl.SSLContext:
    """A client that could talk to the upstream through a tunnel as well as to the proxy."""
    trust = ssl.create_default_context(cafile=str(proxy.ca_cert))
    trust.load_verify_locations(str(tls_fake.certfile))
    return trust


def test_http2_without_sni_naming_the_provider_inside_needs_a_key(regular_only, tls_fake, account_key, db_path):
    """HTTP/2 has no Host line `allow_hosts` could read: every request inside is read as HTTP."""
    def post(**headers) -> int:
        with httpx2.Client(proxy=regular_only.url("regular"), verify=trusting_proxy_and_upstream(regular_only, tls_fake),
                           http2=True, timeout=20) as c:
            r = c.post(f"https://127.0.0.1:{tls_fake.port}/v1/chat/completions", content=BODY,
                       headers={"host": "api.openai.com", "content-type": "application/json", **headers})
        assert r.http_version == "HTTP/2"
        return r.status_code

    assert post() == 401 and tls_fake.received == []
    assert post(**{HEADER: account_key.key}) == 200
    assert [(r["outcome"], r["key_id"]) for r in rows(db_path)] == [("rejected", None), ("forwarded", account_key.id)]


def test_tls_without_sni_to_another_host_is_looked_at_and_passed_on(regular_only, tls_fake, db_path):
    """Intercepted (the client verifies the mitmproxy CA), yet not provider-bound: no key, no row."""
    resp = via_connect(regular_only, f"127.0.0.1:{tls_fake.port}", None, "origin.test", None)
    assert status(resp) == 200, resp[:300]
    assert len(tls_fake.received) == 1 and rows(db_path) == []


def test_an_sdk_naming_the_provider_only_inside_tls_to_a_bare_ip_is_governed(regular_only, tls_fake, account_key,
                                                                             db_path):
    """The official SDK through HTTPS_PROXY, base URL a bare IP (Python sends no SNI for an
    IP), the provider only in the Host header: trusting both certificates, it could reach the
    upstream through a tunnel; it reaches the proxy's checks instead."""
    trust = trusting_proxy_and_upstream(regular_only, tls_fake)

    def client(**headers):
        return openai.OpenAI(api_key="sk-test", base_url=f"https://127.0.0.1:{tls_fake.port}/v1", max_retries=0,
                             http_client=httpx2.Client(proxy=regular_only.url("regular"), verify=trust, timeout=20),
                             default_headers={"Host": "api.openai.com", **headers})

    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(openai.AuthenticationError):
        client().chat.completions.create(**chat)
    assert tls_fake.received == []
    assert client(**{HEADER: account_key.key}).chat.completions.create(**chat).usage.prompt_tokens > 0
    assert [(r["outcome"], r["key_id"]) for r in rows(db_path)] == [("rejected", None), ("forwarded", account_key.id)]


def test_with_the_option_off_tls_without_sni_is_tunnelled(make_proxy, tls_fake, db_path):
    """The documented residual when `aispendtrack_intercept_nameless_tls=false`: the client
    talks to the upstream's own certificate, ungoverned."""
    off = make_proxy(
        {"regular": "regular@{port}"},
        extra_args=["-s", str(REPO / "tests" / "support" / "redirect_upstream.py"),
                    "--set", "aispendtrack_intercept_nameless_tls=false"],
        env={"AISPENDTRACK_TEST_UPSTREAM": tls_fake.url},
    )
    resp = via_connect(off, f"127.0.0.1:{tls_fake.port}", None, "api.openai.com", None, cafile=tls_fake.certfile)
    assert status(resp) == 200 and rows(db_path) == []
