"""Model allow-lists in the proxy: the model served is the model checked, whichever way the
request names it, and an ambiguous model path is refused for every key."""

import json
import time

import pytest
from mitmproxy.test import taddons, tflow

from aispendtrack.proxy.access import Access
from aispendtrack.proxy.state import META, FlowState, Runtime, state_of
from aispendtrack.proxy.webview import MARK_REJECTED
from aispendtrack.store.ledger_schema import Outcome

GEMINI = "/v1beta/models/gemini-2.5-pro:generateContent"
CHAT = "/api/v1/chat/completions"


def flow(path, body=None, *, models=("gpt-4o-mini",), shape="openai"):
    f = tflow.tflow()
    f.request.path = path
    f.request.content = b"" if body is None else json.dumps(body).encode()
    api = "generate" if shape == "google" else "chat"
    f.metadata[META] = FlowState("google" if shape == "google" else "openrouter", api, shape, time.time(),
                                 key_id="key_1", models=None if models is None else list(models))
    return f


def check(f):
    """Both of Access's hooks, as mitmproxy runs them (the second only if the first let it through)."""
    access = Access(Runtime())
    with taddons.context(access):
        access.requestheaders(f)
        if f.response is None:
            access.request(f)
    return f


def refused(f, status=403):
    assert f.response is not None and f.response.status_code == status, f.response
    return f.response.json()


def test_the_issue_attack_a_body_model_cannot_vouch_for_the_paths_model():
    """Key limited to gpt-4o-mini, Gemini path gemini-2.5-pro, body model gpt-4o-mini."""
    f = flow(GEMINI, {"model": "gpt-4o-mini", "contents": []}, shape="google")
    access = Access(Runtime())
    with taddons.context(access):
        access.requestheaders(f)  # decided from the path, before the body is read
    err = refused(f)["error"]
    assert err == {"code": 403, "status": "PERMISSION_DENIED", "message":
                   "AiSpendTrack: key key_1 may not call model 'gemini-2.5-pro'; it is limited to: gpt-4o-mini"}
    assert (state_of(f).outcome, f.marked) == (Outcome.FORBIDDEN, MARK_REJECTED)


@pytest.mark.parametrize("path", [GEMINI, GEMINI.replace("generateContent", "streamGenerateContent") + "?alt=sse"])
def test_a_body_model_that_disagrees_with_an_allowed_path_is_checked_too(path):
    f = check(flow(path, {"model": "gpt-4o", "contents": []}, models=("gemini-2.5-*",), shape="google"))
    assert "may not call model 'gpt-4o'" in refused(f)["error"]["message"]
    assert check(flow(path, {"model": "gemini-2.5-flash", "contents": []}, models=("gemini-2.5-*",),
                      shape="google")).response is None
    assert check(flow(path, {"contents": []}, models=("gemini-2.5-*",), shape="google")).response is None


@pytest.mark.parametrize("models", [("gpt-4o-mini",), None])
def test_a_path_with_two_models_is_refused_400_for_every_key(models):
    f = check(flow("/v1beta/models/gpt-4o-mini/models/gemini-2.5-pro:generateContent", {}, models=models,
                   shape="google"))
    err = refused(f, 400)["error"]
    assert (err["status"], err["code"]) == ("INVALID_ARGUMENT", 400) and "names 2 models" in err["message"]
    assert state_of(f).outcome == Outcome.REJECTED


@pytest.mark.parametrize("body, allowed", [
    ({"model": "openai/gpt-4o-mini", "models": ["openai/gpt-4o-mini", "anthropic/claude-haiku-4.5"]}, True),
    ({"model": "openai/gpt-4o-mini", "models": ["openai/gpt-4o-mini", "openai/gpt-5"]}, False),
    ({"models": ["openai/gpt-5", "openai/gpt-4o-mini"]}, False),
    ({"model": "openai/gpt-4o-mini", "models": ["anthropic/claude-haiku-4.5"], "route": "fallback"}, True),
    ({"model": "openai/gpt-4o-mini", "route": "fallback"}, False),
    ({"model": "openrouter/auto"}, False),  # even though a glob matches it
    ({"model": "openai/gpt-4o-mini", "preset": "mine"}, False),
    ({"model": "openai/gpt-4o-mini@preset/mine"}, False),
])
def test_openrouter_fallbacks_and_routers_are_checked_entry_by_entry(body, allowed):
    f = check(flow(CHAT, {**body, "messages": []}, models=("openai/gpt-4o-mini", "anthropic/*", "openrouter/*")))
    assert (f.response is None) == allowed
    if not allowed:
        assert refused(f)["error"]["code"] == "model_not_allowed"


def test_a_key_allowed_any_model_may_use_the_auto_router_and_fallbacks():
    body = {"model": "openrouter/auto", "models": ["x/y"], "route": {"custom": True}, "messages": []}
    assert check(flow(CHAT, body, models=None)).response is None


def test_a_repeated_model_name_is_refused_whichever_copy_counts():
    f = flow(CHAT, models=("gpt-4o-mini",))
    f.request.content = b'{"model": "gpt-4o", "messages": [], "model": "gpt-4o-mini"}'
    assert "'model' more than once" in refused(check(f))["error"]["message"]


def test_a_compressed_body_is_read_decoded():
    import gzip

    f = flow(CHAT, models=("gpt-4o-mini",))
    f.request.headers["content-encoding"] = "gzip"
    f.request.raw_content = gzip.compress(json.dumps({"model": "gpt-4o", "messages": []}).encode())
    assert "'gpt-4o'" in refused(check(f))["error"]["message"]


def test_a_request_naming_no_model_is_refused_for_a_narrowed_key():
    f = check(flow("/v1/chat/completions", {"messages": []}))
    assert "names no model" in refused(f)["error"]["message"]


@pytest.mark.parametrize("spoil", ["answered", "not live", "not ours"])
def test_flows_it_must_not_check_are_left_alone(spoil):
    f = flow("/v1beta/models/a/models/b:generateContent", {"model": "gpt-4o"}, shape="google")
    if spoil == "answered":
        f.response = tflow.tresp()
    elif spoil == "not live":
        f.live = False
    else:
        del f.metadata[META]
    before = f.response
    check(f)
    assert f.response is before


AZURE = "/openai/deployments/{}/chat/completions?api-version=2024-10-21"


def test_azure_a_body_model_cannot_vouch_for_the_paths_deployment():
    """Azure serves the path's deployment whatever the body names: the path is checked first."""
    f = flow(AZURE.format("expensive"), {"model": "gpt-4o-mini", "messages": []})
    err = refused(check(f))["error"]
    assert "'expensive'" in err["message"]
    allowed = check(flow(AZURE.format("gpt-4o-mini"), {"model": "gpt-4o-mini", "messages": []}))
    assert allowed.response is None
    assert check(flow(AZURE.format("gpt-4o-mini"), {"messages": []})).response is None  # the path names it


@pytest.mark.parametrize("deployment", ["gpt-4o-mini/../expensive", "gpt-4o-mini%2F..%2Fexpensive"])
def test_azure_deployment_behind_dot_segments_is_refused_for_every_key(deployment):
    f = flow(AZURE.format(deployment), {"model": "gpt-4o-mini", "messages": []}, models=None)
    assert refused(check(f), 400)["error"]["code"] == "ambiguous_model_path"
