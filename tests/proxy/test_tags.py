"""The tags step: tag headers never go upstream; good ones ride on the flow's state to its
ledger row, a bad one is answered 400 in the provider's format and never forwarded."""

from mitmproxy.test import taddons, tflow

from aispendtrack.proxy.state import META, FlowState, Runtime, state_of
from aispendtrack.proxy.tags import Tags
from aispendtrack.store.ledger_schema import Outcome


def flow(*headers, shape="openai"):
    f = tflow.tflow()
    f.metadata[META] = FlowState("openai", "chat", shape, 0.0, key_id="key_1", account="acme")
    for name, value in headers:
        f.request.headers.add(name, value)
    return f


def run(f):
    step = Tags(Runtime())
    with taddons.context(step):
        step.requestheaders(f)
    return f


def test_tags_are_kept_and_their_headers_removed():
    f = run(flow(("x-aispendtrack-tags", "feature=search, env=prod"), ("X-AiSpendTrack-Tag-Customer", "acme")))
    assert f.response is None and state_of(f).tags == {"feature": "search", "env": "prod", "customer": "acme"}
    assert not [n for n in f.request.headers if n.lower().startswith("x-aispendtrack-tag")]


def test_a_bad_header_is_a_400_in_the_provider_format_and_not_forwarded():
    f = run(flow(("x-aispendtrack-tags", "feature"), shape="anthropic"))
    assert f.response.status_code == 400
    body = f.response.json()
    assert body["type"] == "error" and "not name=value" in body["error"]["message"]
    assert state_of(f).outcome is Outcome.REJECTED and state_of(f).tags is None
    assert "x-aispendtrack-tags" not in f.request.headers


def test_a_flow_that_is_not_ours_only_loses_the_headers():
    f = tflow.tflow()
    f.request.headers["x-aispendtrack-tags"] = "nonsense"
    run(f)
    assert f.response is None and "x-aispendtrack-tags" not in f.request.headers


def test_an_already_refused_flow_keeps_its_answer():
    f = flow(("x-aispendtrack-tags", "bad header"))
    answered = tflow.tresp(status_code=401)
    f.response = answered
    run(f)
    assert f.response is answered and "x-aispendtrack-tags" not in f.request.headers


def keyed(defaults: dict[str, str] | None, *headers):
    """A flow whose key (with `defaults`) auth accepted, carrying `headers`."""
    from aispendtrack.auth.records import KeyRecord

    f = flow(*headers)
    state_of(f).identify(KeyRecord("d", "key_1", "ask_…abcd", None, None, None, 1, "acme", "pro", None, None,
                                   tags=tuple(sorted(defaults.items())) if defaults else None))
    return run(f)


def test_a_keys_default_tags_are_the_calls_and_a_header_wins_per_name():
    assert state_of(keyed({"env": "ci", "team": "search"})).tags == {"env": "ci", "team": "search"}
    f = keyed({"env": "ci", "team": "search"}, ("x-aispendtrack-tags", "env=prod, feature=chat"))
    assert state_of(f).tags == {"env": "prod", "team": "search", "feature": "chat"}
    f = keyed({"env": "ci"}, ("x-aispendtrack-tag-env", "staging"))
    assert state_of(f).tags == {"env": "staging"}
    assert state_of(keyed(None)).tags is None


def test_a_bad_header_is_refused_even_with_default_tags():
    f = keyed({"env": "ci"}, ("x-aispendtrack-tags", "env"))
    assert f.response.status_code == 400 and "not name=value" in f.response.json()["error"]["message"]


def test_a_replayed_flow_keeps_the_tags_it_was_recorded_with():
    from aispendtrack.auth.records import KeyRecord

    f = keyed({"env": "ci"}, ("x-aispendtrack-tags", "env=prod"))
    state_of(f).identify(KeyRecord("d", "key_1", "ask_…abcd", None, None, None, 1, "acme", "pro", None, None,
                                   tags=(("env", "ci"),)))  # re-authorised on replay
    assert state_of(f).tags == {"env": "prod"}
