"""Real mitmdump, real SDKs, local fake provider: authentication end to end."""

import sqlite3

import anthropic
import openai
import pytest

from aispendtrack.store import keys
from aispendtrack.proxy.auth import HEADER


def oa(proxy, key=None, **kw):
    headers = {HEADER: key} if key else {}
    return openai.OpenAI(base_url=proxy.url("openai") + "/v1", api_key="sk-test-provider-key",
                         default_headers=headers, max_retries=0, **kw)


def an(proxy, key=None):
    headers = {HEADER: key} if key else {}
    return anthropic.Anthropic(base_url=proxy.url("anthropic"), api_key="sk-ant-test", default_headers=headers,
                               max_retries=0)


def test_openai_sdk_with_key_reaches_upstream_without_the_header(reverse_proxy, fake, account_key):
    r = oa(reverse_proxy, account_key.key).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content
    (req,) = fake.received
    assert req.header(HEADER) is None
    assert req.header("authorization") == "Bearer sk-test-provider-key"
    assert req.json()["messages"] == [{"role": "user", "content": "hi"}]


def test_body_reaches_upstream_byte_identical(reverse_proxy, fake, account_key):
    import httpx2

    body = b'{"model": "gpt-4o-mini",  "messages": [{"role":"user","content":"caf\\u00e9"}]}'
    r = httpx2.post(reverse_proxy.url("openai") + "/v1/chat/completions", content=body,
                    headers={HEADER: account_key.key, "content-type": "application/json"})
    assert r.status_code == 200
    assert fake.received[0].body == body


def test_openai_sdk_without_key_raises_authentication_error(reverse_proxy, fake):
    with pytest.raises(openai.AuthenticationError) as e:
        oa(reverse_proxy).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert "missing x-aispendtrack-key" in str(e.value)
    assert fake.received == []
    # the refused call's row keeps the model the client asked for (committed before the 401 went out)
    conn = sqlite3.connect(reverse_proxy.db_path)
    rows = conn.execute("SELECT outcome, status, model, request_model FROM calls").fetchall()
    conn.close()
    assert rows == [("rejected", 401, "gpt-4o-mini", "gpt-4o-mini")]


def test_openai_sdk_with_provider_key_in_our_header_is_told_so(reverse_proxy, fake):
    with pytest.raises(openai.AuthenticationError, match="does not start with 'ask_'"):
        oa(reverse_proxy, "sk-proj-123").embeddings.create(model="text-embedding-3-small", input="x")
    assert fake.received == []


def test_anthropic_sdk_with_and_without_key(reverse_proxy, fake, account_key):
    msg = an(reverse_proxy, account_key.key).messages.create(
        model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert msg.content[0].text
    assert fake.received[0].header(HEADER) is None
    with pytest.raises(anthropic.AuthenticationError, match="unknown key"):
        an(reverse_proxy, keys.generate_key()).messages.create(
            model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert len(fake.received) == 1


def test_rotation_grace_then_only_the_new_key(make_proxy, fake, store, database, config):
    """Both secrets are accepted until the grace end stored with the old one, only the new
    one from then on. Each answer is judged against the time the request was sent and
    answered (the proxy decides in between), so a slow machine cannot fail it."""
    import time

    from aispendtrack.config import parse_config
    from aispendtrack.store.db import parse_iso

    grace = 5
    proxy = make_proxy({"openai": "reverse:" + fake.url + "@{port}"},
                       config_text=f"[keys]\nrotation_grace_seconds = {grace}\n")
    store.create_account("acme", "pro")
    old = store.create_key("acme", config)
    new = store.rotate_key(old.id, parse_config({"keys": {"rotation_grace_seconds": grace}}))
    (retired,) = [r["retired"] for r in database.query(
        "SELECT retired FROM key_secrets WHERE key_id = ? AND retired IS NOT NULL", [old.id])]
    grace_end = parse_iso(retired).timestamp()

    def accepted(key) -> tuple[bool, float, float]:
        sent = time.time()
        try:
            oa(proxy, key).embeddings.create(model="text-embedding-3-small", input="x")
            ok = True
        except openai.AuthenticationError as e:
            assert "rotated out" in str(e)
            ok = False
        return ok, sent, time.time()

    ok, sent, done = accepted(old.key)  # rotations are in force on the very next request
    assert ok or done >= grace_end, "the old secret was refused during its grace"
    assert accepted(new.key)[0]
    time.sleep(max(0.0, grace_end - time.time()) + 0.05)
    ok, sent, done = accepted(old.key)
    assert sent >= grace_end and not ok, "the old secret was accepted after its grace"
    assert accepted(new.key)[0]


def test_revocation_takes_effect_without_restart(reverse_proxy, fake, account_key, store):
    client = oa(reverse_proxy, account_key.key)
    client.models.list()
    store.revoke_key(account_key.id)
    import time

    deadline = time.time() + 1.0
    while True:
        try:
            client.models.list()
        except openai.AuthenticationError as e:
            assert "revoked" in str(e)
            break
        assert time.time() < deadline, "revocation not effective within a second"
        time.sleep(0.05)


def raw_post(port: int, header_value: bytes, body: bytes = b'{"model":"m","input":"x"}') -> tuple[int, bytes]:
    """Send bytes no HTTP client library would send."""
    import socket

    req = (b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"x-aispendtrack-key: " + header_value + b"\r\nContent-Length: " + str(len(body)).encode()
           + b"\r\nConnection: close\r\n\r\n" + body)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(req)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize("value", [
    b"x" * 9000,
    b"ask_" + "\u00e9".encode() * 16,
    b"ask_\xff\xfe" + b"a" * 30,
    b"\x00\x01garbage",
    b"  {key}\t",
])
def test_bad_header_values_get_clear_answers(reverse_proxy, fake, account_key, value):
    v = value.replace(b"{key}", account_key.key.encode())
    status, body = raw_post(reverse_proxy.ports["openai"], v)
    if v.strip() == account_key.key.encode():
        assert status == 200
    else:
        assert status in (400, 401), body
        assert b"error" in body
    # and the proxy keeps serving
    assert oa(reverse_proxy, account_key.key).models.list()


def test_several_key_headers_rejected(reverse_proxy, fake, account_key):
    import httpx2

    r = httpx2.post(reverse_proxy.url("openai") + "/v1/embeddings", json={"model": "m", "input": "x"},
                    headers=[(HEADER, account_key.key), (HEADER, account_key.key)])
    assert r.status_code == 401 and "2 x-aispendtrack-key headers" in r.json()["error"]["message"]
    assert fake.received == []
