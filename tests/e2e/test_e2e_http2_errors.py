"""Upstream failures answered over HTTP/2 as they are over HTTP/1: a 502 in the provider's
JSON error format naming the cause (`proxy/upstream_errors.py`), on the failed stream only —
the client's connection stays open for its other calls. A bare mitmproxy sends its HTML page."""

from __future__ import annotations

import ssl

import httpx2
import pytest

from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.proxy.auth import HEADER

from support.harness import database_with_key, free_port, self_signed

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC = {"model": "claude-3-5-haiku-latest", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from support.harness import Proxy

    tmp = tmp_path_factory.mktemp("h2errors")
    db_path, key = database_with_key(tmp, "h2")
    closed = free_port()  # nothing listens there
    untrusted = FakeProvider(tls=True, certfile=str(self_signed(tmp / "upstream.pem"))).start()  # mitmdump does not trust it
    trusted_pem = self_signed(tmp / "trusted.pem")
    trusted = FakeProvider(tls=True, certfile=str(trusted_pem)).start()
    proxy = Proxy(tmp, db_path, modes={
        "refused": f"reverse:https://127.0.0.1:{closed}@{{port}}",
        "untrusted": f"reverse:{untrusted.url}@{{port}}",
        "fake": f"reverse:{trusted.url}@{{port}}",
    }, extra_args=["--set", f"ssl_verify_upstream_trusted_ca={trusted_pem}"]).start()
    yield {"proxy": proxy, "key": key, "closed": closed, "untrusted": untrusted}
    proxy.stop()
    untrusted.stop()
    trusted.stop()


def h2_client(env) -> httpx2.Client:
    trust = ssl.create_default_context(cafile=str(env["proxy"].ca_cert))
    return httpx2.Client(http2=True, verify=trust, timeout=20,
                         headers={HEADER: env["key"], "authorization": "Bearer sk-provider"})


def url(env, listener: str, path: str) -> str:
    return env["proxy"].url(listener).replace("http://", "https://") + path


def test_connection_refused_over_http2_is_the_providers_json(env):
    with h2_client(env) as c:
        first = c.post(url(env, "refused", "/v1/chat/completions"), json=CHAT)
        again = c.post(url(env, "refused", "/v1/chat/completions"), json=CHAT)  # the same connection, still usable
    for r in (first, again):
        assert r.http_version == "HTTP/2"
        assert r.status_code == 502
        assert r.headers["content-type"] == "application/json"
        assert r.json()["error"]["message"] == f"AiSpendTrack: upstream 127.0.0.1:{env['closed']}: connection refused"


def test_anthropic_shape_over_http2(env):
    with h2_client(env) as c:
        r = c.post(url(env, "refused", "/v1/messages"), json=ANTHROPIC, headers={"anthropic-version": "2023-06-01"})
    assert (r.http_version, r.status_code) == ("HTTP/2", 502)
    body = r.json()
    assert body["type"] == "error" and "connection refused" in body["error"]["message"]


def test_untrusted_upstream_certificate_over_http2(env):
    with h2_client(env) as c:
        r = c.post(url(env, "untrusted", "/v1/chat/completions"), json=CHAT)
    assert (r.http_version, r.status_code) == ("HTTP/2", 502)
    assert r.headers["content-type"] == "application/json"
    message = r.json()["error"]["message"]
    assert message.startswith(f"AiSpendTrack: upstream 127.0.0.1:{env['untrusted'].port}: "), message


def test_upstream_reset_before_the_body_is_complete_is_the_providers_json(env):
    with h2_client(env) as c:
        r = c.post(url(env, "fake", "/v1/chat/completions"), json=CHAT, headers={"x-fake-fault": "reset"})
        after = c.post(url(env, "fake", "/v1/chat/completions"), json=CHAT)  # the connection's other streams work
    assert (r.http_version, r.status_code) == ("HTTP/2", 502)
    assert r.json()["error"]["message"].startswith("AiSpendTrack: upstream 127.0.0.1:")
    assert (after.http_version, after.status_code) == ("HTTP/2", 200)


def test_a_stream_reset_after_its_headers_stays_a_reset(env):
    """Once the client has the response's headers, only a reset can say it failed: no JSON
    body is pushed after them, and the connection serves the next call."""
    with h2_client(env) as c:
        with pytest.raises(httpx2.HTTPError) as failed:
            with c.stream("POST", url(env, "fake", "/v1/chat/completions"), headers={"x-fake-fault": "reset:2"},
                          json={**CHAT, "stream": True, "stream_options": {"include_usage": True}}) as r:
                assert (r.http_version, r.status_code) == ("HTTP/2", 200)
                got = b"".join(r.iter_raw())
                raise AssertionError(f"stream ended cleanly: {got!r}")
        # a reset of this stream, not a client left waiting for a body that never ends
        assert isinstance(failed.value, httpx2.RemoteProtocolError) and "StreamReset" in str(failed.value)
        after = c.post(url(env, "fake", "/v1/chat/completions"), json=CHAT)
    assert (after.http_version, after.status_code) == ("HTTP/2", 200)
