"""Auth's answers in full: what a refused call receives (status, body, headers), what the
flow records (outcome, error, marker, comment, identity), and the key store failing."""

import asyncio
import logging

import pytest
from mitmproxy.test import taddons

from aispendtrack.proxy.auth import HEADER, Auth
from aispendtrack.proxy.state import state_of
from aispendtrack.proxy.webview import MARK_REJECTED, MARK_UNAVAILABLE
from aispendtrack.store.ledger_schema import Outcome
from support.flows import provider_flow

QUERY_MESSAGE = "AiSpendTrack: x-aispendtrack-key was sent in the query string (removed, not used): send it as a header"


@pytest.fixture
def account(store):
    store.create_account("acme", "pro")
    return store.get_account("acme")


def run(rt, f):
    auth = Auth(rt)
    with taddons.context(auth):
        asyncio.run(auth.requestheaders(f))


def openai_error(message, code, type_="invalid_request_error"):
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def test_an_accepted_key_records_its_whole_identity(rt, store, config, account):
    new = store.create_key("acme", config, permissions=("calls", "export"), models=("gpt-4o*",))
    rt.keycache.refresh()
    f = provider_flow(headers=[(HEADER, new.key)])
    run(rt, f)
    assert f.response is None and f.marked == "" and f.comment == ""
    state = state_of(f)
    record = rt.keycache.by_id[new.id]
    assert (state.key_id, state.key_hint, state.account, state.account_id, state.tier) == \
        (new.id, record.hint, "acme", account.id, "pro")
    assert (state.requests_per_hour, state.monthly_calls, state.budgeted) == (10_000, None, False)
    assert (state.permissions, state.models) == (["calls", "export"], ["gpt-4o*"])
    assert (state.outcome, state.error) == (Outcome.FORWARDED, None)


@pytest.mark.parametrize("shape_host, path, body", [
    ("api.openai.com", "/v1/chat/completions",
     lambda m: openai_error(m, "permission_denied")),
    ("api.anthropic.com", "/v1/messages",
     lambda m: {"type": "error", "error": {"type": "permission_error", "message": m}}),
    ("generativelanguage.googleapis.com", "/v1beta/models/gemini-2.5-flash:generateContent",
     lambda m: {"error": {"code": 403, "message": m, "status": "PERMISSION_DENIED"}}),
])
def test_a_key_without_the_calls_permission_is_answered_403(rt, store, config, account, shape_host, path, body):
    new = store.create_key("acme", config, permissions=("dashboard",))
    rt.keycache.refresh()
    f = provider_flow(host=shape_host, path=path, headers=[(HEADER, new.key)])
    run(rt, f)
    message = f"AiSpendTrack: key {new.id} may not make API calls (it has no calls permission)"
    assert f.response.status_code == 403
    assert f.response.json() == body(message)
    state = state_of(f)
    assert (state.outcome, state.error, state.key_id, state.permissions) == \
        (Outcome.FORBIDDEN, message, new.id, ["dashboard"])
    assert (f.marked, f.comment) == (MARK_REJECTED, message)
    assert HEADER not in f.request.headers


def test_a_refused_key_is_answered_401_with_the_reason_and_recorded(rt, account):
    f = provider_flow(headers=[(HEADER, "ask_short")])
    run(rt, f)
    message = "AiSpendTrack: x-aispendtrack-key header is not 'ask_' followed by 32 letters and digits"
    assert f.response.status_code == 401
    assert f.response.json() == openai_error(message, "invalid_api_key")
    assert f.response.headers["content-type"] == "application/json"
    state = state_of(f)
    assert (state.outcome, state.error, state.key_id, state.permissions) == (Outcome.REJECTED, message, None, None)
    assert (f.marked, f.comment) == (MARK_REJECTED, message)


def test_a_key_sent_only_in_the_query_string_is_named_as_the_reason(rt, account):
    f = provider_flow(path="/v1/chat/completions?x-aispendtrack-key=ask_" + "A" * 32)
    run(rt, f)
    assert f.response.status_code == 401
    assert f.response.json() == openai_error(QUERY_MESSAGE, "invalid_api_key")
    assert state_of(f).error == QUERY_MESSAGE
    assert f.request.path == "/v1/chat/completions"


def test_with_a_header_as_well_the_header_decides(rt, store, config, account):
    """The query-string reason replaces only "missing header": a bad header is named as such,
    a good one is accepted (the query copy is still removed)."""
    f = provider_flow(path="/v1/chat/completions?x-aispendtrack-key=ask_" + "A" * 32,
                      headers=[(HEADER, "ask_short")])
    run(rt, f)
    assert state_of(f).error == "AiSpendTrack: x-aispendtrack-key header is not 'ask_' followed by 32 letters and digits"
    assert f.request.path == "/v1/chat/completions"
    new = store.create_key("acme", config)
    rt.keycache.refresh()
    f = provider_flow(path="/v1/chat/completions?x-aispendtrack-key=" + new.key + "&n=1", headers=[(HEADER, new.key)])
    run(rt, f)
    assert f.response is None and state_of(f).key_id == new.id
    assert f.request.path == "/v1/chat/completions?n=1"


def test_every_copy_of_the_key_header_is_stripped_and_several_refused(rt, store, config, account):
    new = store.create_key("acme", config)
    rt.keycache.refresh()
    f = provider_flow(headers=[(HEADER, new.key), ("X-AiSpendTrack-Key", new.key), ("accept", "*/*")])
    run(rt, f)
    assert [k for k, _ in f.request.headers.fields] == [k for k, _ in provider_flow().request.headers.fields] + \
        [b"accept"]
    assert state_of(f).error == "AiSpendTrack: 2 x-aispendtrack-key headers: send exactly one"


async def broken(*args):
    raise RuntimeError("database is locked")


@pytest.mark.parametrize("replay", [False, True])
def test_a_key_store_failure_is_a_503_to_retry_and_a_warning(rt, account, monkeypatch, caplog, replay):
    monkeypatch.setattr(rt.keycache, "fresh" if replay else "lookup_fresh", broken)
    f = provider_flow(headers=[(HEADER, "ask_" + "A" * 32)])
    if replay:
        f.is_replay = "request"
    with caplog.at_level(logging.WARNING, logger="aispendtrack.proxy.auth"):
        run(rt, f)
    message = "AiSpendTrack could not read its key store; try again"
    assert f.response.status_code == 503
    assert f.response.headers["retry-after"] == "1"
    assert f.response.json() == openai_error(message, "keys_unavailable", "server_error")
    state = state_of(f)
    assert (state.outcome, state.error) == (Outcome.REJECTED, message)
    assert (f.marked, f.comment) == (MARK_UNAVAILABLE, message)
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == \
        [("aispendtrack.proxy.auth", logging.WARNING, "aispendtrack: key store unavailable: database is locked")]
