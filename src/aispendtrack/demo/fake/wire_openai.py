"""OpenAI wire formats of the fake provider: chat, completions, embeddings, models,
responses (plus the Groq, OpenRouter and DeepSeek usage flavors)."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from typing import Any

from aispendtrack.demo.fake.wire_core import SSE, Call, Reply, data_frame, event_frame, json_reply


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
