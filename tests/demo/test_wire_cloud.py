"""The fake provider's Azure OpenAI and Vertex AI routes and wire formats (pure: route → Call → Reply)."""

import json

import anthropic.types
import openai.types.chat
import pytest

from aispendtrack.demo.fake.wire import Call, UsageSpec, build, route, split_text
from aispendtrack.meter import meter_body

U = UsageSpec()
VERTEX = "/v1/projects/p/locations/us-east5/publishers"


def reply(path: str, body: dict, headers: dict | None = None):
    provider, api, model = route("POST", path, headers or {})
    call = Call(provider, api, body, split_text("Fake reply", 3), U, "req-abc123", None, model,
                stream=body.get("stream") is True or "streamGenerate" in path, target=path)
    return provider, api, build(call)


@pytest.mark.parametrize("path, expected", [
    ("/openai/deployments/prod/chat/completions?api-version=2024-10-21", ("azure", "chat", "gpt-4o-2024-08-06")),
    ("/openai/deployments/emb/embeddings?api-version=2024-10-21", ("azure", "embeddings", "text-embedding-3-small")),
    ("/openai/v1/responses", ("azure", "responses", "gpt-4o-2024-08-06")),
    ("/openai/responses?api-version=2025-03-01-preview", ("azure", "responses", "gpt-4o-2024-08-06")),
    (f"{VERTEX}/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse", ("google", "generate", "gemini-2.5-pro")),
    (f"{VERTEX}/anthropic/models/claude-sonnet-4-5@20250929:rawPredict",
     ("vertex", "messages", "claude-sonnet-4-5@20250929")),
    (f"{VERTEX}/anthropic/models/count-tokens:rawPredict", ("vertex", "count_tokens", None)),
    ("/v1beta1/projects/p/locations/global/publishers/google/models/gemini-2.5-flash:generateContent",
     ("google", "generate", "gemini-2.5-flash")),  # google-genai's default API version on Vertex
    (f"{VERTEX}/google/models/text-embedding-005:predict", ("google", "", None)),
])
def test_routes(path, expected):
    assert route("POST", path, {}) == expected


def test_azure_chat_carries_content_filter_annotations_and_the_served_model():
    _, _, r = reply("/openai/deployments/prod/chat/completions?api-version=2024-10-21", {"messages": []})
    obj = json.loads(r.body)
    openai.types.chat.ChatCompletion.model_validate(obj)
    assert obj["model"] == "gpt-4o-2024-08-06" and obj["prompt_filter_results"][0]["prompt_index"] == 0
    assert obj["choices"][0]["content_filter_results"]["hate"] == {"filtered": False, "severity": "safe"}
    assert meter_body("azure", "chat", r.body).input_tokens == U.input


def test_azure_chat_stream_opens_with_the_prompt_filter_chunk_and_ends_with_usage():
    _, _, r = reply("/openai/deployments/prod/chat/completions?api-version=2024-10-21",
                    {"messages": [], "stream": True, "stream_options": {"include_usage": True}})
    events = [f[len(b"data: "):].strip() for f in r.frames]
    first, *rest, usage, done = events
    assert done == b"[DONE]"
    first = json.loads(first)
    assert (first["choices"], first["model"], first["id"]) == ([], "", "") and first["prompt_filter_results"]
    chunks = [openai.types.chat.ChatCompletionChunk.model_validate(json.loads(e)) for e in rest]
    assert chunks[0].choices[0].content_filter_results == {}  # role-only delta
    assert json.loads(usage)["usage"]["prompt_tokens"] == U.input and json.loads(usage)["choices"] == []
    assert meter_body("azure", "chat", b"".join(r.frames)).output_tokens == U.output


@pytest.mark.parametrize("path, status", [
    ("/openai/deployments/prod/chat/completions?api-version=2024-06-01", 400),
    ("/openai/deployments/prod/chat/completions?api-version=2024-09-01-preview", 200),
    ("/openai/v1/chat/completions", 200),
])
def test_azure_refuses_stream_options_before_2024_09_01(path, status):
    _, _, r = reply(path, {"messages": [], "stream": True, "stream_options": {"include_usage": True}})
    assert r.status == status
    if status == 400:
        assert "stream_options" in json.loads(r.body)["error"]["message"]


def test_azure_deployment_paths_need_an_api_version():
    _, _, r = reply("/openai/deployments/prod/chat/completions", {"messages": []})
    assert r.status == 404


def test_azure_model_header_names_another_served_model():
    _, _, r = reply("/openai/deployments/p/chat/completions?api-version=2024-10-21", {"messages": []},
                    {"x-fake-model": "acme-ft-7"})
    assert json.loads(r.body)["model"] == "acme-ft-7"


def test_vertex_claude_whole_and_streamed_in_anthropic_shapes():
    body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 5, "messages": [],
            "thinking": {"type": "enabled", "budget_tokens": 100}}
    _, _, whole = reply(f"{VERTEX}/anthropic/models/claude-sonnet-4-5@20250929:rawPredict", body)
    msg = anthropic.types.Message.model_validate_json(whole.body)
    assert msg.model == "claude-sonnet-4-5@20250929" and msg.usage.cache_read_input_tokens == U.cache_read
    assert msg.content[0].type == "thinking"
    _, _, streamed = reply(f"{VERTEX}/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
                           {**body, "stream": True})
    assert streamed.content_type.startswith("text/event-stream")
    m = meter_body("google", "messages", b"".join(streamed.frames))
    assert (m.input_tokens, m.output_tokens, m.cache_read_tokens, m.cache_write_tokens) == (
        U.input, U.output, U.cache_read, U.cache_write)


@pytest.mark.parametrize("body, problem", [
    ({"max_tokens": 5, "messages": []}, "anthropic_version"),
    ({"anthropic_version": "vertex-2023-10-16", "model": "x", "max_tokens": 5, "messages": []}, "model"),
])
def test_vertex_claude_refuses_what_vertex_refuses_in_googles_error_shape(body, problem):
    _, _, r = reply(f"{VERTEX}/anthropic/models/claude-sonnet-4-5@20250929:rawPredict", body)
    err = json.loads(r.body)["error"]
    assert r.status == 400 and err["status"] == "INVALID_ARGUMENT" and problem in err["message"]


def test_vertex_gemini_uses_gemini_shapes():
    _, _, r = reply(f"{VERTEX}/google/models/gemini-2.5-pro:generateContent", {"contents": []})
    obj = json.loads(r.body)
    assert obj["modelVersion"] == "gemini-2.5-pro" and obj["usageMetadata"]["thoughtsTokenCount"] == U.reasoning
