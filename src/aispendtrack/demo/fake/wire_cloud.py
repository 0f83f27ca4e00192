"""Azure OpenAI and Vertex AI wire formats of the fake provider.

Azure OpenAI (learn.microsoft.com, "Azure OpenAI REST API reference"): OpenAI's shapes under
`/openai/deployments/<deployment>/{chat/completions,completions,embeddings}?api-version=…`
and `/openai/v1/{chat/completions,responses,embeddings}`, `/openai/responses?api-version=…`.
The response's `model` names the model behind the deployment (`gpt-4o-2024-08-06`), never
the deployment; chat answers carry content-filter annotations (`prompt_filter_results`, a
choice's `content_filter_results`), and a stream opens with a chunk of `choices: []`,
`model: ""` and the prompt's filter results. An api-version before 2024-09-01 rejects
`stream_options` with 400.

Vertex AI: Gemini at `/v1[beta1]/projects/<p>/locations/<l>/publishers/google/models/<m>:
(stream)generateContent` (Gemini's own shapes), Claude at `…/publishers/anthropic/models/<m>:
(stream)rawPredict` (Anthropic Messages shapes; the body names no model and carries
`anthropic_version: "vertex-2023-10-16"`; the stream is Anthropic's SSE). Errors in Google's shape.

Header `x-fake-model: NAME` makes an Azure answer name NAME as its model (a fine-tune, say).
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

from aispendtrack.demo.fake.wire_anthropic import anthropic_messages
from aispendtrack.demo.fake.wire_core import Call, Reply, data_frame, error_body, json_reply
from aispendtrack.demo.fake.wire_openai import openai_chat, openai_completions, openai_embeddings, openai_responses

_AZURE = re.compile(r"^/openai/(?:deployments/[^/]+/|v1/)?(chat/completions|completions|embeddings|responses)$")
_VERTEX = re.compile(r"^/v1(?:beta1)?/projects/[^/]+/locations/[^/]+/publishers/(google|anthropic)/models/([^/:]+):"
                     r"([A-Za-z]+)$")  # any verb: those not served answer 404 in Google's shape
AZURE_MODEL = {"chat/completions": "gpt-4o-2024-08-06", "responses": "gpt-4o-2024-08-06",
               "completions": "gpt-35-turbo-instruct", "embeddings": "text-embedding-3-small"}
_API = {"chat/completions": "chat", "completions": "completions", "embeddings": "embeddings", "responses": "responses"}
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
_FILTER = {name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")}
_PROMPT_FILTER = [{"prompt_index": 0, "content_filter_results": {**_FILTER,
                                                                  "jailbreak": {"filtered": False, "detected": False}}}]


def route_cloud(path: str, headers: dict[str, str]) -> tuple[str, str, str | None] | None:
    """(provider, api, model named by the route) of an Azure or Vertex path; None for others."""
    p = path.split("?", 1)[0].rstrip("/")
    if m := _AZURE.match(p):
        return "azure", _API[m.group(1)], headers.get("x-fake-model", AZURE_MODEL[m.group(1)])
    if m := _VERTEX.match(p):
        publisher, model, verb = m.groups()
        if publisher == "google" and verb in ("generateContent", "streamGenerateContent"):
            return "google", "generate", model
        if publisher == "anthropic" and verb in ("rawPredict", "streamRawPredict"):
            return ("vertex", "count_tokens", None) if model == "count-tokens" else ("vertex", "messages", model)
        return "google", "", None
    return None


def _filtered(choice: dict, stream: bool) -> dict:
    # Azure annotates every choice; a stream's role-only first delta gets an empty object
    empty = stream and not (choice.get("delta") or {}).get("content") and not choice.get("finish_reason")
    return {**choice, "content_filter_results": {} if empty else _FILTER}


def _chat(obj: dict, stream: bool) -> dict:
    if isinstance(obj.get("choices"), list) and obj["choices"]:
        obj["choices"] = [_filtered(ch, stream) for ch in obj["choices"]]
    if not stream:
        obj["prompt_filter_results"] = _PROMPT_FILTER
    return obj


def azure(c: Call) -> Reply:
    path, _, query = c.target.partition("?")
    path_v1 = path.startswith("/openai/v1/")
    version = (parse_qs(query).get("api-version") or [""])[0]
    if not path_v1 and not version:
        return json_reply({"error": {"code": "404", "message": "Resource not found"}}, 404)
    if c.stream and "stream_options" in c.body and not path_v1 and version < "2024-09-01":
        return json_reply(error_body("azure", 400, "Unrecognized request argument supplied: stream_options"), 400)
    reply = {"chat": openai_chat, "completions": openai_completions, "embeddings": openai_embeddings,
             "responses": openai_responses}[c.api](c)
    if c.api != "chat":
        return reply
    if reply.frames is None:
        reply.body = json.dumps(_chat(json.loads(reply.body), False), indent=2).encode() + b"\n"
        return reply
    frames = [data_frame({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                          "prompt_filter_results": _PROMPT_FILTER})]
    for frame in reply.frames:
        body = frame[len(b"data: "):].strip()
        frames.append(frame if body == b"[DONE]" else data_frame(_chat(json.loads(body), True)))
    reply.frames = frames
    return reply


def vertex_anthropic(c: Call) -> Reply:
    # Vertex's documented value is "vertex-2023-10-16"; anthropic 2.14's AnthropicVertex sends its
    # own API version date there: the fake insists only that the body names one.
    version = c.body.get("anthropic_version")
    if not isinstance(version, str) or not version:
        return json_reply(error_body("google", 400, f"anthropic_version: required, e.g. {VERTEX_ANTHROPIC_VERSION!r}"),
                          400)
    if "model" in c.body:
        return json_reply(error_body("google", 400, "model: Extra inputs are not permitted"), 400)
    return anthropic_messages(c)
