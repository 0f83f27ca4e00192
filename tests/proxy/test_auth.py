import asyncio

import pytest
from mitmproxy.test import taddons, tflow

from aispendtrack.store import keys, open_store
from aispendtrack.proxy.auth import HEADER, Auth, parse_header
from aispendtrack.proxy.state import state_of
from aispendtrack.proxy.webview import MARK_REJECTED

from support.flows import provider_flow


@pytest.fixture
def key(store, config, rt):
    store.create_account("acme", "pro")
    new = store.create_key("acme", config)
    rt.keycache.refresh()
    return new


@pytest.mark.parametrize(
    "values, fragment",
    [
        ([], "missing x-aispendtrack-key"),
        (["ask_" + "a" * 32, "ask_" + "b" * 32], "2 x-aispendtrack-key headers"),
        (["sk-proj-abc"], "does not start with 'ask_'"),
        (["ask_short"], "followed by 32 letters and digits"),
        (["ask_" + "a" * 31 + "é"], "followed by 32 letters and digits"),
        (["ask_" + "a" * 5000], "5004 characters long"),
        (["ask_" + "a" * 32 + "\udcff"], "letters and digits"),
    ],
)
def test_parse_header_refusals(values, fragment):
    key, reason = parse_header(values)
    assert key is None and fragment in reason


def test_parse_header_strips_surrounding_whitespace():
    k = "ask_" + "A1" * 16
    assert parse_header([f"  {k}\t"]) == (k, None)


def test_valid_key_is_accepted_and_stripped(rt, key):
    auth = Auth(rt)
    f = provider_flow(headers=[(HEADER, key.key)])
    with taddons.context(auth):
        asyncio.run(auth.requestheaders(f))
    assert f.response is None
    assert HEADER not in f.request.headers
    state = state_of(f)
    assert (state.key_id, state.account, state.provider, state.api) == (key.id, "acme", "openai", "chat")
    assert key.key not in repr(f.get_state())


@pytest.mark.parametrize("shape_host, path, shape", [
    ("api.openai.com", "/v1/chat/completions", "openai"),
    ("api.anthropic.com", "/v1/messages", "anthropic"),
    ("generativelanguage.googleapis.com", "/v1beta/models/gemini-2.5-flash:generateContent", "google"),
])
def test_missing_key_answers_401_in_provider_format(rt, shape_host, path, shape):
    auth = Auth(rt)
    f = provider_flow(host=shape_host, path=path)
    with taddons.context(auth):
        asyncio.run(auth.requestheaders(f))
    assert f.response.status_code == 401
    body = f.response.json()
    if shape == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    elif shape == "google":
        assert body["error"]["status"] == "UNAUTHENTICATED"
    else:
        assert body["error"]["code"] == "invalid_api_key"
    assert state_of(f).outcome == "rejected"
    assert f.marked


def test_wrong_key_is_stripped_and_rejected(rt, key):
    auth = Auth(rt)
    wrong = keys.generate_key()
    f = provider_flow(headers=[(HEADER, wrong)])
    with taddons.context(auth):
        asyncio.run(auth.requestheaders(f))
    assert f.response.status_code == 401
    assert HEADER not in f.request.headers
    message = f.response.json()["error"]["message"]
    assert "unknown key" in message and "delet" not in message  # keys are revoked, never deleted
    assert wrong not in repr(f.get_state())


def test_non_provider_flow_passes_untouched_but_loses_the_key(rt, key):
    auth = Auth(rt)
    f = provider_flow(host="example.com", headers=[(HEADER, key.key)])
    with taddons.context(auth):
        asyncio.run(auth.requestheaders(f))
    assert f.response is None and state_of(f) is None
    assert HEADER not in f.request.headers


def test_reverse_listener_to_custom_upstream_is_provider_bound(rt):
    auth = Auth(rt)
    f = provider_flow(host="127.0.0.1", path="/v1/messages", mode="reverse:http://127.0.0.1:9999")
    with taddons.context(auth):
        asyncio.run(auth.requestheaders(f))
    assert f.response.status_code == 401
    assert state_of(f).provider == "anthropic"


def test_replay_is_reauthorised_from_the_recorded_key_id(rt, key, store):
    auth = Auth(rt)
    f = provider_flow(headers=[(HEADER, key.key)])
    with taddons.context(auth):
        asyncio.run(auth.requestheaders(f))
        assert f.response is None
        replay = f.copy()
        replay.is_replay = "request"
        replay.live = True
        asyncio.run(auth.requestheaders(replay))
        assert replay.response is None
        assert (state_of(replay).key_id, state_of(replay).account) == (key.id, "acme")
        store.revoke_key(key.id)
        rt.keycache.refresh()
        again = f.copy()
        again.is_replay = "request"
        again.live = True
        asyncio.run(auth.requestheaders(again))
        assert again.response.status_code == 401


def test_cli_changes_are_known_at_the_next_lookup(rt, db_path, config):
    """No waiting for the poll thread: the change signal makes the very next lookup re-read.
    The changes are made as the CLI makes them: by another store on the same file."""
    with open_store(db_path) as cli:
        cli.create_account("late", "pro")
        new = cli.create_key("late", config)
        assert asyncio.run(rt.keycache.lookup_fresh(new.key)).reason is None
        cli.revoke_key(new.id)
    assert asyncio.run(rt.keycache.lookup_fresh(new.key)).reason is not None


@pytest.mark.parametrize("query", ["?x-aispendtrack-key=ask_{k}", "?a=1&X-AiSpendTrack-Key=ask_{k}&b=2",
                                   "?x%2Daispendtrack%2Dkey=ask_{k}"])
def test_key_in_query_string_is_removed_and_never_forwarded(query):
    from aispendtrack.proxy.auth import take_query_key

    f = tflow.tflow()
    f.request.path = "/v1/chat/completions" + query.format(k="A" * 32)
    assert take_query_key(f.request)
    assert "ask_" not in f.request.path and "ask_" not in f.request.url
    assert ("a=1" in f.request.path) == ("a=1" in query)
    f.request.path = "/v1/chat/completions?aispendtrack=1&x=2"
    assert not take_query_key(f.request) and f.request.path.endswith("?aispendtrack=1&x=2")


def test_missing_key_message_tells_how_to_send_it():
    assert parse_header([]) == (None, "missing x-aispendtrack-key header: send your AiSpendTrack key (ask_…) in "
                                      "the x-aispendtrack-key header, e.g. OpenAI(default_headers="
                                      "{'x-aispendtrack-key': key})")


@pytest.mark.parametrize("length, long_message", [(256, False), (257, True)])
def test_length_refusal_starts_above_256_characters(length, long_message):
    _, reason = parse_header(["ask_" + "a" * (length - 4)])
    assert (reason == f"x-aispendtrack-key header is {length} characters long; an AiSpendTrack key has 36") \
        == long_message


def test_undecodable_header_bytes_are_a_401_not_a_crash(rt, key):
    f = provider_flow()
    f.request.headers.fields += ((HEADER.encode(), b"ask_" + b"\xff" * 32),)
    auth = Auth(rt)
    with taddons.context(auth):
        asyncio.run(auth.requestheaders(f))
    assert f.response.status_code == 401 and f.marked == MARK_REJECTED
    assert "letters and digits" in state_of(f).error


@pytest.mark.parametrize("case", ["answered", "errored", "not live"])
def test_flows_already_settled_are_not_authenticated_but_lose_the_key(rt, case):
    f = provider_flow(headers=[(HEADER, "ask_wrong")])
    if case == "answered":
        f.response = tflow.tresp()
    elif case == "errored":
        f.error = tflow.terr()
    else:
        f.live = False
    before = f.response
    auth = Auth(rt)
    with taddons.context(auth):
        asyncio.run(auth.requestheaders(f))
    assert f.response is before and state_of(f) is None
    assert HEADER not in f.request.headers


def test_replay_without_a_recorded_key_id_is_refused(rt):
    f = provider_flow()
    f.is_replay = "request"
    auth = Auth(rt)
    with taddons.context(auth):
        asyncio.run(auth.requestheaders(f))
    assert f.response.status_code == 401
    assert state_of(f).error == "AiSpendTrack: replayed flow has no authorised AiSpendTrack key on record"
