"""Wire formats spoken by the fake provider (see fakeprovider.py).

Pure functions: a parsed request (:class:`Call`) in, a :class:`Reply` out (a whole body,
or a list of stream frames that the server sends one by one). Shapes follow the
official SDK types (openai 3.57, anthropic 2.14) and the providers' documented output.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UsageSpec:
    """Tokens every response reports. ``input`` is the TOTAL input (cache included),
    ``output`` the total output (reasoning included) — genai-prices conventions."""

    input: int = 1200
    output: int = 300
    cache_read: int = 400
    cache_write: int = 100
    reasoning: int = 50
    cost: float = 0.00123  # OpenRouter usage.cost (USD)


@dataclass
class Call:
    provider: str  # openai | anthropic | google
    api: str  # chat | responses | embeddings | completions | models | messages | count_tokens | generate
    body: dict[str, Any]
    pieces: list[str]  # reply text, split into stream deltas
    usage: UsageSpec
    request_id: str
    model_override: str | None = None
    path_model: str | None = None  # Gemini: model from the path
    stream: bool = False
    sse: bool = True  # Gemini: alt=sse vs JSON array
    flavor: str = ""  # groq | openrouter | deepseek
    usage_with_choices: bool = False
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def requested_model(self) -> str:
        return self.path_model or str(self.body.get("model") or DEFAULT_MODEL[self.api])

    @property
    def model(self) -> str:
        return self.model_override or self.requested_model

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def rid(self, prefix: str) -> str:
        return prefix + self.request_id.rsplit("-", 1)[-1]


@dataclass
class Reply:
    status: int = 200
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None  # non-streamed
    frames: list[bytes] | None = None  # streamed: one write (and one delay) per frame


DEFAULT_MODEL = {
    "chat": "gpt-4o-mini", "responses": "gpt-4o-mini", "embeddings": "text-embedding-3-small",
    "completions": "gpt-3.5-turbo-instruct", "models": "", "messages": "claude-sonnet-4-6",
    "count_tokens": "claude-sonnet-4-6", "generate": "gemini-2.5-flash",
}
SSE = "text/event-stream; charset=utf-8"


def _j(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def json_reply(obj: Any, status: int = 200, headers=None) -> Reply:
    return Reply(status, body=json.dumps(obj, indent=2).encode() + b"\n", headers=list(headers or []))


def data_frame(obj: Any, eol: bytes = b"\n") -> bytes:
    return b"data: " + (obj if isinstance(obj, bytes) else _j(obj)) + eol + eol


def event_frame(event: str, obj: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _j(obj) + b"\n\n"


def prompt_text(call_api: str, body: dict) -> str:
    """Last user text of a request, for a deterministic echo."""
    def flat(c: Any) -> str:
        if isinstance(c, str):
            return c
        if isinstance(c, list):
            return " ".join(flat(p) for p in c)
        if isinstance(c, dict):
            return flat(c.get("text") or c.get("content") or c.get("parts") or "")
        return ""
    try:
        if call_api in ("chat", "messages", "count_tokens"):
            return flat((body.get("messages") or [{}])[-1].get("content"))
        if call_api == "responses":
            inp = body.get("input")
            return flat(inp[-1] if isinstance(inp, list) and inp else inp)
        if call_api == "completions":
            return flat(body.get("prompt"))
        if call_api == "generate":
            return flat((body.get("contents") or [{}])[-1].get("parts"))
    except (AttributeError, TypeError, IndexError):
        pass
    return ""


def split_text(text: str, n: int) -> list[str]:
    n = max(1, min(n, len(text)))
    q, r = divmod(len(text), n)
    out, i = [], 0
    for k in range(n):
        j = i + q + (1 if k < r else 0)
        out.append(text[i:j])
        i = j
    return out


# ---------------------------------------------------------------- errors
_OPENAI_ERR = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
               403: ("invalid_request_error", None), 404: ("invalid_request_error", "model_not_found"),
               429: ("requests", "rate_limit_exceeded")}
_ANTHROPIC_ERR = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                  404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                  529: "overloaded_error"}
_GOOGLE_ERR = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
               429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def error_body(provider: str, status: int, message: str | None = None) -> dict:
    message = message or f"Fake provider error {status}"
    if provider == "anthropic":
        return {"type": "error", "error": {"type": _ANTHROPIC_ERR.get(status, "api_error"), "message": message}}
    if provider == "google":
        return {"error": {"code": status, "message": message, "status": _GOOGLE_ERR.get(status, "UNKNOWN")}}
    etype, code = _OPENAI_ERR.get(status, ("server_error", None))
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


# ---------------------------------------------------------------- OpenAI
def openai_usage(c: Call) -> dict:
    u = c.usage
    d: dict[str, Any] = {
        "prompt_tokens": u.input, "completion_tokens": u.output, "total_tokens": u.input + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read, "cache_write_tokens": u.cache_write,
                                  "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }
    if c.flavor == "deepseek":
        d["prompt_cache_hit_tokens"] = u.cache_read
        d["prompt_cache_miss_tokens"] = u.input - u.cache_read
    elif c.flavor == "openrouter":
        d["cost"] = u.cost
        d["is_byok"] = False
        d["cost_details"] = {"upstream_inference_cost": None}
    return d


def _groq(c: Call) -> dict:
    u = c.usage
    return {"id": c.rid("req_"), "usage": {
        "queue_time": 0.01, "prompt_tokens": u.input, "prompt_time": 0.002, "completion_tokens": u.output,
        "completion_time": 0.1, "total_tokens": u.input + u.output, "total_time": 0.102}}


def openai_chat(c: Call) -> Reply:
    base = {"id": c.rid("chatcmpl-"), "object": "chat.completion", "created": c.created, "model": c.model,
            "service_tier": "default", "system_fingerprint": "fp_fake"}
    if not c.stream:
        msg = {"role": "assistant", "content": c.text, "refusal": None, "annotations": []}
        obj = {**base, "choices": [{"index": 0, "message": msg, "logprobs": None, "finish_reason": "stop"}],
               "usage": openai_usage(c)}
        if c.flavor == "groq":
            obj["x_groq"] = _groq(c)
        return json_reply(obj)
    base["object"] = "chat.completion.chunk"
    include = bool((c.body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict, finish: str | None = None, usage: Any = None) -> dict:
        ch = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include or usage is not None:
            ch["usage"] = usage
        return ch

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": p}) for p in c.pieces]
    last = chunk({}, "stop", openai_usage(c) if c.usage_with_choices else None)
    if c.flavor == "groq":
        last["x_groq"] = _groq(c)
    chunks.append(last)
    if include and not c.usage_with_choices:
        chunks.append({**base, "choices": [], "usage": openai_usage(c)})
    frames = [data_frame(ch) for ch in chunks]
    if c.flavor == "openrouter":
        frames[0:0] = [b": OPENROUTER PROCESSING\n\n", b": OPENROUTER PROCESSING\n\n"]
    frames.append(b"data: [DONE]\n\n")
    return Reply(content_type=SSE, frames=frames)


def openai_completions(c: Call) -> Reply:
    base = {"id": c.rid("cmpl-"), "object": "text_completion", "created": c.created, "model": c.model,
            "system_fingerprint": "fp_fake"}
    usage = openai_usage(c)
    if not c.stream:
        return json_reply({**base, "choices": [{"text": c.text, "index": 0, "logprobs": None,
                                                 "finish_reason": "stop"}], "usage": usage})
    include = bool((c.body.get("stream_options") or {}).get("include_usage"))
    chunks = [{**base, "choices": [{"text": p, "index": 0, "logprobs": None,
                                    "finish_reason": "stop" if i == len(c.pieces) - 1 else None}]}
              for i, p in enumerate(c.pieces)]
    if c.usage_with_choices:
        chunks[-1]["usage"] = usage
    elif include:
        for ch in chunks:
            ch["usage"] = None
        chunks.append({**base, "choices": [], "usage": usage})
    return Reply(content_type=SSE, frames=[data_frame(ch) for ch in chunks] + [b"data: [DONE]\n\n"])


def openai_embeddings(c: Call) -> Reply:
    inp = c.body.get("input", "")
    inputs = inp if isinstance(inp, list) and inp and not isinstance(inp[0], int) else [inp]
    dims = int(c.body.get("dimensions") or 16)
    b64 = c.body.get("encoding_format") == "base64"
    data = []
    for i, item in enumerate(inputs):
        seed = hashlib.sha256(json.dumps(item).encode()).digest()
        vec = [round((seed[k % 32] - 127.5) / 128.0, 4) for k in range(dims)]
        emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if b64 else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return json_reply({"object": "list", "data": data, "model": c.model,
                       "usage": {"prompt_tokens": c.usage.input, "total_tokens": c.usage.input}})


def openai_models(c: Call) -> Reply:
    ids = ["gpt-4o", "gpt-4o-mini", "o3-mini", "text-embedding-3-small", "gpt-3.5-turbo-instruct"]
    return json_reply({"object": "list", "data": [
        {"id": m, "object": "model", "created": 1700000000, "owned_by": "system"} for m in ids]})


def anthropic_models(c: Call) -> Reply:
    ids = ["claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6"]
    data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in ids]
    return json_reply({"data": data, "has_more": False, "first_id": ids[0], "last_id": ids[-1]})


def _response_obj(c: Call, status: str, output: list, usage: Any) -> dict:
    return {
        "id": c.rid("resp_"), "object": "response", "created_at": c.created, "status": status,
        "background": False, "error": None, "incomplete_details": None, "instructions": None,
        "max_output_tokens": None, "model": c.model, "output": output, "parallel_tool_calls": True,
        "previous_response_id": None, "reasoning": {"effort": None, "summary": None}, "service_tier": "default",
        "store": True, "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
        "tools": [], "top_p": 1.0, "truncation": "disabled", "usage": usage, "user": None, "metadata": {},
        "completed_at": c.created if status == "completed" else None,
    }


def openai_responses(c: Call) -> Reply:
    u = c.usage
    usage = {"input_tokens": u.input,
             "input_tokens_details": {"cached_tokens": u.cache_read, "cache_write_tokens": u.cache_write},
             "output_tokens": u.output, "output_tokens_details": {"reasoning_tokens": u.reasoning},
             "total_tokens": u.input + u.output}
    item_id = c.rid("msg_")
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": c.text}
    item = {"id": item_id, "type": "message", "status": "completed", "role": "assistant", "content": [part]}
    if not c.stream:
        return json_reply(_response_obj(c, "completed", [item], usage))
    events: list[tuple[str, dict]] = [
        ("response.created", {"response": _response_obj(c, "in_progress", [], None)}),
        ("response.in_progress", {"response": _response_obj(c, "in_progress", [], None)}),
        ("response.output_item.added", {"output_index": 0, "item": {**item, "status": "in_progress",
                                                                   "content": []}}),
        ("response.content_part.added", {"item_id": item_id, "output_index": 0, "content_index": 0,
                                         "part": {**part, "text": ""}}),
    ]
    loc = {"item_id": item_id, "output_index": 0, "content_index": 0}
    events += [("response.output_text.delta", {**loc, "delta": p, "logprobs": []}) for p in c.pieces]
    events += [
        ("response.output_text.done", {**loc, "text": c.text, "logprobs": []}),
        ("response.content_part.done", {**loc, "part": part}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        ("response.completed", {"response": _response_obj(c, "completed", [item], usage)}),
    ]
    frames = [event_frame(name, {"type": name, **obj, "sequence_number": i})
              for i, (name, obj) in enumerate(events)]
    return Reply(content_type=SSE, frames=frames)


# ---------------------------------------------------------------- Anthropic
def _thinking(c: Call) -> bool:
    t = c.body.get("thinking")
    return isinstance(t, dict) and t.get("type") in ("enabled", "adaptive")


def anthropic_usage(c: Call) -> dict:
    u = c.usage
    d = {"input_tokens": u.input - u.cache_read - u.cache_write, "cache_creation_input_tokens": u.cache_write,
         "cache_read_input_tokens": u.cache_read,
         "cache_creation": {"ephemeral_5m_input_tokens": u.cache_write, "ephemeral_1h_input_tokens": 0},
         "output_tokens": u.output, "service_tier": "standard"}
    if _thinking(c):
        d["output_tokens_details"] = {"thinking_tokens": u.reasoning}
    return d


THINKING, SIGNATURE = "Let me think about this.", "ZmFrZS1zaWduYXR1cmU="


def anthropic_messages(c: Call) -> Reply:
    usage = anthropic_usage(c)
    content = [{"type": "text", "text": c.text}]
    if _thinking(c):
        content.insert(0, {"type": "thinking", "thinking": THINKING, "signature": SIGNATURE})
    msg = {"id": c.rid("msg_"), "type": "message", "role": "assistant", "model": c.model, "content": content,
           "stop_reason": "end_turn", "stop_sequence": None, "usage": usage}
    hdrs = [("request-id", c.rid("req_"))]
    if not c.stream:
        return json_reply(msg, headers=hdrs)
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"}
    start_usage["output_tokens"] = 1
    ev: list[tuple[str, dict]] = [("message_start", {"message": {
        **msg, "content": [], "stop_reason": None, "usage": start_usage}})]
    idx = 0
    if _thinking(c):
        ev += [("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": "",
                                                                     "signature": ""}}),
               ("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": THINKING}}),
               ("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}}),
               ("content_block_stop", {"index": 0})]
        idx = 1
    ev += [("content_block_start", {"index": idx, "content_block": {"type": "text", "text": ""}}),
           ("ping", {})]
    ev += [("content_block_delta", {"index": idx, "delta": {"type": "text_delta", "text": p}}) for p in c.pieces]
    delta_usage = {k: v for k, v in usage.items() if k not in ("cache_creation", "service_tier")}
    ev += [("content_block_stop", {"index": idx}),
           ("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": delta_usage}),
           ("message_stop", {})]
    return Reply(content_type=SSE, headers=hdrs, frames=[event_frame(n, {"type": n, **o}) for n, o in ev])


def anthropic_count_tokens(c: Call) -> Reply:
    return json_reply({"input_tokens": c.usage.input})


# ---------------------------------------------------------------- Gemini
def gemini_usage(c: Call, done: float = 1.0) -> dict:
    u = c.usage
    cand = round((u.output - u.reasoning) * done)
    d = {"promptTokenCount": u.input, "candidatesTokenCount": cand, "totalTokenCount": u.input + cand + u.reasoning,
         "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u.input}], "thoughtsTokenCount": u.reasoning}
    if u.cache_read:
        d["cachedContentTokenCount"] = u.cache_read
        d["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": u.cache_read}]
    return d


def gemini_generate(c: Call) -> Reply:
    def obj(text: str, finish: bool, done: float) -> dict:
        cand: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        if finish:
            cand["finishReason"] = "STOP"
        return {"candidates": [cand], "usageMetadata": gemini_usage(c, done), "modelVersion": c.model,
                "responseId": c.rid("")}
    if not c.stream:
        return json_reply(obj(c.text, True, 1.0))
    n = len(c.pieces)
    objs = [obj(p, i == n - 1, (i + 1) / n) for i, p in enumerate(c.pieces)]
    if c.sse:
        return Reply(content_type="text/event-stream", frames=[data_frame(o, b"\r\n") for o in objs])
    frames = [(b"[" if i == 0 else b"\r\n,") + json.dumps(o, indent=2).encode() for i, o in enumerate(objs)]
    frames[-1] += b"\r\n]"
    return Reply(content_type="application/json; charset=UTF-8", frames=frames)


# ---------------------------------------------------------------- routing
_GEMINI = re.compile(r"^/v1(?:beta|alpha)?/models/([^/:]+):(generateContent|streamGenerateContent)$")
HANDLERS = {"chat": openai_chat, "responses": openai_responses, "embeddings": openai_embeddings,
            "completions": openai_completions, "messages": anthropic_messages,
            "count_tokens": anthropic_count_tokens, "generate": gemini_generate}


def route(method: str, path: str, headers: dict[str, str]) -> tuple[str, str, str | None]:
    """(provider, api, gemini model) for a request; api "" = unknown route."""
    p = path.split("?", 1)[0].rstrip("/")
    if method == "POST":
        if m := _GEMINI.match(p):
            return "google", "generate", m.group(1)
        api = {"/v1/chat/completions": "chat", "/v1/responses": "responses", "/v1/embeddings": "embeddings",
               "/v1/completions": "completions", "/v1/messages": "messages",
               "/v1/messages/count_tokens": "count_tokens"}.get(p, "")
        return ("anthropic" if api in ("messages", "count_tokens") else "openai"), api, None
    if method == "GET" and p == "/v1/models":
        return ("anthropic" if "anthropic-version" in headers else "openai"), "models", None
    if p.startswith("/v1beta") or "key=" in path or "x-goog-api-key" in headers:
        return "google", "", None
    return ("anthropic" if "anthropic-version" in headers else "openai"), "", None


def build(c: Call) -> Reply:
    if c.api == "models":
        return anthropic_models(c) if c.provider == "anthropic" else openai_models(c)
    return HANDLERS[c.api](c)
