"""The proxy's side of the vault: the stored key set upstream in the provider's header
(`inject`, replacing the client's), a client key refused under `require`, a stored key that
does not decrypt refused 503 (never forwarded), the injected key always redacted, and a
change in the vault in force on the next request (the key cache's reload)."""

import asyncio
import base64
import json
import os
import time

import pytest
from mitmproxy.test import taddons, tflow

from aispendtrack.proxy.redact import Redact
from aispendtrack.proxy.state import META, FlowState, state_of
from aispendtrack.proxy.vault import VaultCheck, VaultInject, client_credentials
from aispendtrack.proxy.vaultview import VaultView
from aispendtrack.vault import service

SECRET = "sk-proj-VAULTED-PLAINTEXT-0000abcd"
CLIENT = "sk-proj-CLIENTS-OWN-KEY-1111wxyz"


@pytest.fixture
def setup(rt, store, config):
    acct = store.create_account("acme", "pro")
    key = store.create_key("acme", config)
    rt.vault = rt.keycache.vault = VaultView()
    rt.keycache.refresh(True)
    return rt, acct, key


def flow_for(acct, key, provider="openai", shape="openai"):
    f = tflow.tflow()
    state = FlowState(provider, "chat", shape, time.time())
    state.key_id, state.account, state.account_id = key.id, acct.name, acct.id
    f.metadata[META] = state
    return f


def through(rt, f):
    """The vault's two steps, in hook order (limits would sit between them)."""
    check, inject = VaultCheck(rt), VaultInject(rt)
    check.requestheaders(f)
    inject.requestheaders(f)
    inject.request(f)
    return f


def reload(rt):
    rt.keycache.refresh(True)


@pytest.mark.parametrize("provider, header, value", [
    ("openai", "authorization", f"Bearer {SECRET}"),
    ("groq", "authorization", f"Bearer {SECRET}"),
    ("anthropic", "x-api-key", SECRET),
    ("azure", "api-key", SECRET),
    ("google", "x-goog-api-key", SECRET),
    ("aws", "authorization", f"Bearer {SECRET}"),  # a Bedrock API key, in place of a client's SigV4
])
def test_inject_replaces_whatever_the_client_sent(setup, store, provider, header, value):
    rt, acct, key = setup
    service.store_secret(store, "acme", provider, None, SECRET, "ann")
    reload(rt)
    f = flow_for(acct, key, provider)
    f.request.path = "/v1/chat?key=AIzaCLIENTKEY&alt=sse"
    for name in ("authorization", "x-api-key", "api-key", "x-goog-api-key"):
        f.request.headers[name] = CLIENT
    through(rt, f)
    assert f.response is None
    assert f.request.headers[header] == value
    assert CLIENT not in repr(f.request.headers.fields) and "key=" not in f.request.path
    assert f.request.query["alt"] == "sse"
    assert state_of(f).injected == header


@pytest.mark.parametrize("host, header, value", [
    ("us-central1-aiplatform.googleapis.com", "authorization", f"Bearer {SECRET}"),  # Vertex: an access token
    ("aiplatform.googleapis.com", "authorization", f"Bearer {SECRET}"),
    ("aiplatform.us.rep.googleapis.com", "authorization", f"Bearer {SECRET}"),
    ("generativelanguage.googleapis.com", "x-goog-api-key", SECRET),  # the Gemini API: an API key
    ("aiplatform.googleapis.com.evil.example", "x-goog-api-key", SECRET),
])
def test_google_on_a_vertex_host_gets_a_bearer_token(setup, store, host, header, value):
    rt, acct, key = setup
    service.store_secret(store, "acme", "google", None, SECRET, "ann")
    reload(rt)
    f = flow_for(acct, key, "google", "google")
    f.request.host = host
    through(rt, f)
    assert f.request.headers[header] == value and state_of(f).injected == header


def test_a_keys_own_credential_overrides_the_accounts(setup, store, config):
    rt, acct, key = setup
    other = store.create_key("acme", config)
    service.store_secret(store, "acme", "openai", None, SECRET, "ann")
    service.store_secret(store, "acme", "openai", key.id, "sk-key-specific-secret-9999", "ann")
    reload(rt)
    assert through(rt, flow_for(acct, key)).request.headers["authorization"] == "Bearer sk-key-specific-secret-9999"
    assert through(rt, flow_for(acct, other)).request.headers["authorization"] == f"Bearer {SECRET}"


def test_without_a_stored_key_inject_mode_forwards_the_clients(setup):
    rt, acct, key = setup
    f = flow_for(acct, key)
    f.request.headers["authorization"] = f"Bearer {CLIENT}"
    through(rt, f)
    assert f.response is None and f.request.headers["authorization"] == f"Bearer {CLIENT}"
    assert state_of(f).injected is None


def test_require_refuses_a_client_key_in_the_providers_error_format(setup, store):
    rt, acct, key = setup
    service.store_secret(store, "acme", "anthropic", None, SECRET, "ann")
    store.set_vault_mode(acct.id, "require")
    reload(rt)
    f = flow_for(acct, key, "anthropic", "anthropic")
    f.request.headers["x-api-key"] = CLIENT
    through(rt, f)
    assert f.response.status_code == 403
    body = json.loads(f.response.content)
    assert body["error"]["type"] == "permission_error" and "x-api-key" in body["error"]["message"]
    assert CLIENT not in f.response.text
    # an SDK's placeholder, or nothing at all, is not a credential: the stored one is set
    for sent in ("vault", None):
        f = flow_for(acct, key, "anthropic", "anthropic")
        if sent:
            f.request.headers["x-api-key"] = sent
        through(rt, f)
        assert f.response is None and f.request.headers["x-api-key"] == SECRET
    # a provider with no stored key under require: refused, naming the command
    f = through(rt, flow_for(acct, key, "openai"))
    assert f.response.status_code == 403 and "providers set acme openai" in f.response.text


def test_credentials_a_client_may_send(setup):
    f = tflow.tflow()
    f.request.headers["authorization"] = "Bearer vault"
    f.request.headers["x-api-key"] = "sk-...1234 (redacted by AiSpendTrack)"
    assert client_credentials(f.request) == []
    f.request.path = "/v1beta/models/x:generateContent?key=AIzaREAL"
    assert client_credentials(f.request) == ["?key="]
    f.request.headers["api-key"] = "realkey"
    assert client_credentials(f.request) == ["api-key", "?key="]


def test_a_key_that_does_not_decrypt_is_refused_503_never_forwarded(setup, store, monkeypatch, vault_key_file):
    rt, acct, key = setup
    service.store_secret(store, "acme", "openai", None, SECRET, "ann")
    vault_key_file.unlink()  # a gateway started without the master key
    rt.vault = rt.keycache.vault = VaultView()
    reload(rt)
    f = flow_for(acct, key)
    f.request.headers["authorization"] = f"Bearer {CLIENT}"
    through(rt, f)
    assert f.response.status_code == 503 and f.response.headers["x-should-retry"] == "false"
    assert "no vault master key" in f.response.text and "providers list" in f.response.text
    # a wrong master key: named as such
    monkeypatch.setenv("AISPENDTRACK_VAULT_KEY", base64.b64encode(os.urandom(32)).decode())
    reload(rt)
    f = through(rt, flow_for(acct, key))
    assert f.response.status_code == 503 and "does not hold" in f.response.text


def test_an_opened_key_survives_its_master_key_leaving_the_file(setup, store, vault_key_file):
    """Between a rotation's last step (old key dropped) and the next reload nothing breaks."""
    rt, acct, key = setup
    service.store_secret(store, "acme", "openai", None, SECRET, "ann")
    reload(rt)
    saved = vault_key_file.read_bytes()
    vault_key_file.unlink()
    reload(rt)  # same sealed text: not opened again
    assert through(rt, flow_for(acct, key)).request.headers["authorization"] == f"Bearer {SECRET}"
    vault_key_file.write_bytes(saved)
    vault_key_file.chmod(0o600)
    service.rotate(store)  # a new sealed text under a new key: opened with the new file
    reload(rt)
    assert through(rt, flow_for(acct, key)).request.headers["authorization"] == f"Bearer {SECRET}"


def test_a_vault_change_is_in_force_on_the_next_request(setup, store):
    rt, acct, key = setup
    fresh = lambda: asyncio.run(rt.keycache.fresh())  # what auth awaits before every decision  # noqa: E731
    fresh()
    service.store_secret(store, "acme", "openai", None, SECRET, "ann")
    fresh()
    assert through(rt, flow_for(acct, key)).request.headers["authorization"] == f"Bearer {SECRET}"
    service.remove(store, "acme", "openai", None)
    fresh()
    f = flow_for(acct, key)
    f.request.headers["authorization"] = f"Bearer {CLIENT}"
    assert through(rt, f).request.headers["authorization"] == f"Bearer {CLIENT}"


def test_the_injected_key_is_redacted_even_when_client_keys_are_kept(setup, store):
    rt, acct, key = setup
    service.store_secret(store, "acme", "openai", None, SECRET, "ann")
    reload(rt)
    r = Redact()
    with taddons.context(r) as tctx:
        tctx.configure(r, aispendtrack_redact_provider_keys=False)
        f = through(rt, flow_for(acct, key))
        f.response = tflow.tresp()
        r.response(f)
        assert SECRET not in repr(f.get_state()) and "(redacted by AiSpendTrack)" in f.request.headers["authorization"]
        assert SECRET[-4:] in f.request.headers["authorization"]


def test_an_admin_key_is_never_opened_nor_sent(setup, store, config):
    """An organization admin key (`providers set … --admin`, for reconcile) is not for calls:
    not for the provider it belongs to, nor for an upstream configured under its stored name."""
    rt, acct, key = setup
    service.store_secret(store, "acme", service.admin_name("openai"), None, "sk-admin-ORGkey0123456789", "ann")
    reload(rt)
    assert rt.vault.entries == {}
    for provider in ("openai", "openai.admin"):
        f = flow_for(acct, key, provider)
        f.request.headers["authorization"] = f"Bearer {CLIENT}"
        through(rt, f)
        assert f.request.headers["authorization"] == f"Bearer {CLIENT}" and state_of(f).injected is None
