"""Which models a request reaches: the path's for path-routed APIs, every model the body names."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aispendtrack.limits import routing
from aispendtrack.limits.routing import PathModel, Requested

GEMINI = "/v1beta/models/gemini-2.5-pro:generateContent"
VERTEX = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent"


@pytest.mark.parametrize("path, model", [
    (GEMINI, "gemini-2.5-pro"),
    (GEMINI + "?alt=sse&key=x:y/models/z", "gemini-2.5-pro"),  # the query string routes nothing
    ("/v1beta/models/gemini-2.5-pro:streamGenerateContent", "gemini-2.5-pro"),
    (VERTEX, "gemini-2.5-pro"),
    ("/v1beta/MODELS/gemini-2.5-pro:generateContent", "gemini-2.5-pro"),
    ("/v1beta/models/gemini%2D2.5-pro:generateContent", "gemini-2.5-pro"),  # decoded as the upstream decodes it
    ("/v1beta/models/gemini-2.5-pro%3AgenerateContent", "gemini-2.5-pro"),
    ("/v1/chat/completions", None),
    ("/v1/models", None),
    ("/v1/models/gpt-4o", None),  # a model's description: not routed by the path
    ("/v1beta/tunedModels/mine:generateContent", None),
])
def test_path_model(path, model):
    assert routing.path_model(path) == PathModel(model)


@pytest.mark.parametrize("path, why", [
    ("/v1beta/models/gpt-4o-mini/models/gemini-2.5-pro:generateContent", "names 2 models"),
    ("/v1beta/models/gemini-2.5-flash:generateContent/models/gemini-2.5-pro:generateContent", "names 2 models"),
    ("/v1beta/models/gpt-4o-mini%2Fmodels%2Fgemini-2.5-pro:generateContent", "names 2 models"),
    ("/v1beta/models/gpt-4o-mini%252Fmodels%252Fgemini-2.5-pro:generateContent", "names 2 models"),
    ("/models/a/models/b/models/c:generateContent", "names 3 models"),
    ("/v1beta/models/gemini-2.5-flash/../gemini-2.5-pro:generateContent", "dot segments"),
    ("/v1beta/models/gemini-2.5-flash/%2e%2e/gemini-2.5-pro:generateContent", "dot segments"),
    ("/v1beta/models/gemini-2.5-flash\\..\\gemini-2.5-pro:generateContent", "backslashes"),
    ("/v1beta/models/gemini-2.5-flash/x:generateContent", "not one model name"),
    ("/v1beta/models/:generateContent", "not one model name"),
    ("/v1beta/models/gemini 2.5:generateContent", "not one model name"),
    ("/v1beta/models/gemini%0a:generateContent", "not one model name"),
    ("/v1beta/models/%2525252F:generateContent", "more than three times"),
])
def test_ambiguous_paths_name_their_problem(path, why):
    result = routing.path_model(path)
    assert result.model is None and why in result.problem


def body(**fields) -> dict:
    return routing.parse_body(json.dumps(fields).encode())


@pytest.mark.parametrize("path, fields, expected", [
    ("/v1/chat/completions", {"model": "gpt-4o-mini"}, Requested("gpt-4o-mini", ("gpt-4o-mini",))),
    (GEMINI, {"model": "gpt-4o-mini"}, Requested("gemini-2.5-pro", ("gemini-2.5-pro", "gpt-4o-mini"))),
    (GEMINI, {"model": "gemini-2.5-pro"}, Requested("gemini-2.5-pro", ("gemini-2.5-pro",))),
    (GEMINI, {}, Requested("gemini-2.5-pro", ("gemini-2.5-pro",))),
    ("/api/v1/chat/completions", {"model": "a/x", "models": ["b/y", "a/x", "c/z"], "route": "fallback"},
     Requested("a/x", ("a/x", "b/y", "c/z"))),
    ("/api/v1/chat/completions", {"models": ["b/y", "c/z"]}, Requested("b/y", ("b/y", "c/z"))),
    ("/v1/chat/completions", {}, Requested(None, ())),
])
def test_requested_names_every_model(path, fields, expected):
    assert routing.requested(path, body(**fields)) == expected


@pytest.mark.parametrize("fields, why", [
    ({"model": "openrouter/auto"}, "'openrouter/auto' lets the provider choose"),
    ({"model": "OpenRouter/Auto:nitro"}, "lets the provider choose"),
    ({"model": "a/x", "models": ["openrouter/auto"]}, "'openrouter/auto' lets the provider choose"),
    ({"model": "@preset/mine"}, "lets the provider choose"),
    ({"model": "a/x@preset/mine"}, "lets the provider choose"),
    ({"model": "a/x", "preset": "mine"}, "preset"),
    ({"model": "a/x", "route": "fallback"}, "route"),
    ({"model": "a/x", "route": {"type": "custom"}}, "route"),
    ({"model": "a/x", "models": ["b/y"], "route": "sort"}, "route"),
    ({"model": ["a/x"]}, "not a model name"),
    ({"model": ""}, "not a model name"),
    ({"model": None}, "not a model name"),
    ({"model": "a/x", "models": "b/y"}, "models is not a list"),
    ({"model": "a/x", "models": []}, "models is not a list"),
    ({"model": "a/x", "models": ["b/y", 3]}, "models is not a list"),
    ({"model": "a/x", "models": ["m"] * (routing.MAX_FALLBACKS + 1)}, "models is not a list"),
])
def test_what_no_allow_list_can_check_is_named(fields, why):
    assert why in routing.requested("/api/v1/chat/completions", body(**fields)).unchecked


def test_a_repeated_name_is_unchecked_whichever_copy_an_upstream_takes():
    raw = b'{"model": "gpt-4o-mini", "messages": [], "model": "gpt-4o"}'
    parsed = routing.parse_body(raw)
    assert parsed["model"] == "gpt-4o"  # Python keeps the last; other parsers keep the first
    assert "'model' more than once" in routing.requested("/v1/chat/completions", parsed).unchecked
    escaped = b'{"model": "gpt-4o-mini", "mod\\u0065l": "gpt-4o"}'
    assert "more than once" in routing.requested("/v1/chat/completions", routing.parse_body(escaped)).unchecked
    nested = routing.parse_body(b'{"model": "m", "metadata": {"k": 1, "k": 2}}')
    assert routing.requested("/v1/chat/completions", nested).unchecked is None


@pytest.mark.parametrize("raw", [b"", b"  ", b"[1]", b"not json", b'"x"', b"[" * 100_000])
def test_parse_body_takes_objects_only(raw):
    assert routing.parse_body(raw) is None


def test_a_plain_dict_is_read_too():
    assert routing.requested(GEMINI, {"model": "gpt-4o-mini"}).names == ("gemini-2.5-pro", "gpt-4o-mini")
    assert routing.requested(GEMINI, None) == Requested("gemini-2.5-pro", ("gemini-2.5-pro",))


@given(st.text(max_size=60))
def test_path_model_never_raises_and_a_model_is_one_segment(path):
    result = routing.path_model(path)
    assert result.model is None or result.problem is None
    if result.model is not None:
        assert "/" not in result.model and result.model.strip() == result.model


AZURE = "/openai/deployments/{}/chat/completions?api-version=2024-10-21"


@pytest.mark.parametrize("path, expected", [
    (AZURE.format("cheap"), PathModel("cheap")),
    (AZURE.format("models"), PathModel("models")),  # a deployment may be called anything
    (AZURE.format("my%20dep"), PathModel(problem="the path's deployment 'my dep' is not one deployment name")),
    ("/OpenAI/Deployments/cheap/embeddings", PathModel("cheap")),
    ("/openai/deployments/cheap", PathModel()),  # the deployment itself, not a call
    ("/openai/v1/chat/completions", PathModel()),  # the v1 form: the body names the deployment
])
def test_azure_deployment_routes_the_call(path, expected):
    assert routing.path_model(path) == expected


@pytest.mark.parametrize("path", [
    AZURE.format("cheap/../expensive"),
    AZURE.format("cheap%2F..%2Fexpensive"),
    AZURE.format("cheap%252F..%252Fexpensive"),
    "/openai/deployments/cheap/openai/deployments/expensive/chat/completions",
    "/openai/deployments/cheap%2Fopenai%2Fdeployments%2Fexpensive/chat/completions",
    "/openai/deployments/cheap/models/gemini-2.5-pro:generateContent",
    "/openai/deployments/cheap\\..\\expensive/chat/completions",
    AZURE.format("cheap:expensive"),
])
def test_azure_deployment_tricks_are_ambiguous(path):
    assert routing.path_model(path).problem is not None


def test_azure_path_deployment_and_body_model_are_both_checked():
    asked = routing.requested(AZURE.format("expensive"), {"model": "cheap"})
    assert asked.served == "expensive" and asked.names == ("expensive", "cheap")


@pytest.mark.parametrize("path, model, problem", [
    ("/v1/realtime?model=gpt-realtime", "gpt-realtime", None),
    ("/v1/realtime/?model=gpt-4o-realtime-preview&voice=x", "gpt-4o-realtime-preview", None),
    ("/v1/realtime?model=gpt%2Drealtime", "gpt-realtime", None),
    ("/v1/realtime", None, None),  # the upstream's default: a narrowed key refuses it (names no model)
    ("/v1/realtime?model=a&model=b", None, "more than once"),
    ("/v1/realtime?model=", None, "not one model name"),
    ("/v1/realtime?model=a%20b", None, "not one model name"),
    ("/v1/realtime?model=x/y", None, "not one model name"),
    ("/v1/chat/completions?model=gpt-4o", None, None),  # only Realtime reads the query
])
def test_realtime_names_its_model_in_the_query(path, model, problem):
    found = routing.path_model(path)
    assert found.model == model
    assert (found.problem is None) if problem is None else problem in found.problem
