"""Recorded-shape wire samples (hand-written, following the providers' real formats)."""

from __future__ import annotations

import json

CHAT_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 128,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def _chunk(delta: dict, finish: str | None = None, model: str = "gpt-4o-2024-08-06", **extra) -> dict:
    return {
        "id": "chatcmpl-AbC123",
        "object": "chat.completion.chunk",
        "created": 1764148347,
        "model": model,
        "system_fingerprint": "fp_07871e2ad8",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


def sse(events: list[tuple[str | None, object]], done: bool = False, comments: tuple[str, ...] = ()) -> bytes:
    out = [f": {c}\n\n" for c in comments]
    for name, obj in events:
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {json.dumps(obj, ensure_ascii=False)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def eol(stream: bytes, ending: bytes) -> bytes:
    return stream.replace(b"\n", ending)


# --- OpenAI Chat Completions -------------------------------------------------------
CHAT_CHUNKS = [
    _chunk({"role": "assistant", "content": "", "refusal": None}, usage=None),
    _chunk({"content": "Héllo 👋 wörld"}, usage=None),
    _chunk({"content": " ✓ data: not a field"}, usage=None),
    _chunk({}, "stop", usage=None),
]
CHAT_USAGE_CHUNK = {**_chunk({}), "choices": [], "usage": CHAT_USAGE}
CHAT_STREAM = sse([(None, c) for c in CHAT_CHUNKS + [CHAT_USAGE_CHUNK]], done=True)
CHAT_STREAM_NO_USAGE = sse([(None, {k: v for k, v in c.items() if k != "usage"}) for c in CHAT_CHUNKS], done=True)
CHAT_STREAM_STRIPPED = sse([(None, c) for c in CHAT_CHUNKS], done=True)
CHAT_BODY = {
    "id": "chatcmpl-AbC123",
    "object": "chat.completion",
    "created": 1764148347,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Héllo 👋 wörld", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": CHAT_USAGE,
    "system_fingerprint": "fp_07871e2ad8",
}

# --- OpenAI Responses ----------------------------------------------------------------
RESP_USAGE = {
    "input_tokens": 900,
    "input_tokens_details": {"cached_tokens": 512},
    "output_tokens": 400,
    "output_tokens_details": {"reasoning_tokens": 256},
    "total_tokens": 1300,
}
_RESP = {
    "id": "resp_67ccd2bed1ec8190",
    "object": "response",
    "created_at": 1741476542,
    "status": "in_progress",
    "model": "o4-mini-2025-04-16",
    "output": [],
    "usage": None,
}
_MSG = {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant"}
RESP_BODY = {
    **_RESP,
    "status": "completed",
    "output": [{**_MSG, "content": [{"type": "output_text", "text": "Hi there", "annotations": []}]}],
    "usage": RESP_USAGE,
}
RESP_EVENTS = [
    ("response.created", {"type": "response.created", "sequence_number": 0, "response": _RESP}),
    ("response.in_progress", {"type": "response.in_progress", "sequence_number": 1, "response": _RESP}),
    (
        "response.output_item.added",
        {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
         "item": {**_MSG, "status": "in_progress", "content": []}},
    ),
    (
        "response.content_part.added",
        {"type": "response.content_part.added", "sequence_number": 3, "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}},
    ),
    (
        "response.output_text.delta",
        {"type": "response.output_text.delta", "sequence_number": 4, "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "delta": "Hi ✓"},
    ),
    (
        "response.output_text.done",
        {"type": "response.output_text.done", "sequence_number": 5, "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "text": "Hi there"},
    ),
]
RESP_COMPLETED = ("response.completed", {"type": "response.completed", "sequence_number": 6, "response": RESP_BODY})
RESP_STREAM = sse(RESP_EVENTS + [RESP_COMPLETED])

# --- Anthropic Messages ----------------------------------------------------------------
ANTH_START_USAGE = {
    "input_tokens": 25,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 10000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500},
    "output_tokens": 1,
    "service_tier": "standard",
}
ANTH_FINAL_USAGE = {**ANTH_START_USAGE, "output_tokens": 150}
_ANTH_MSG = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": ANTH_START_USAGE,
}
ANTH_BODY = {
    **_ANTH_MSG,
    "content": [{"type": "thinking", "thinking": "Let me think", "signature": "sig"}, {"type": "text", "text": "Hi ✓"}],
    "stop_reason": "end_turn",
    "usage": ANTH_FINAL_USAGE,
}
ANTH_HEAD = [
    ("message_start", {"type": "message_start", "message": _ANTH_MSG}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "thinking_delta", "thinking": "Let me think"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi ✓"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
]
# two cumulative message_delta events: the latest value wins, never the sum
ANTH_TAIL = [
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": None, "stop_sequence": None},
                       "usage": {"output_tokens": 100}}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                       "usage": {"input_tokens": 25, "cache_creation_input_tokens": 2000,
                                 "cache_read_input_tokens": 10000, "output_tokens": 150}}),
    ("message_stop", {"type": "message_stop"}),
]
ANTH_STREAM = sse(ANTH_HEAD + ANTH_TAIL)

# --- Gemini ---------------------------------------------------------------------------------
GEM_USAGE = {
    "promptTokenCount": 500,
    "candidatesTokenCount": 80,
    "totalTokenCount": 700,
    "cachedContentTokenCount": 256,
    "thoughtsTokenCount": 120,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 500}],
    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 256}],
}
GEM_CHUNKS = [
    {
        "candidates": [{"content": {"parts": [{"text": "Hel ✓ [x] {y}"}], "role": "model"}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 500, "totalTokenCount": 500,
                          "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 500}]},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "mF0maOzqN4",
    },
    {
        "candidates": [{"content": {"parts": [{"text": 'lo "quoted" \\ ] } ,'}], "role": "model"},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": GEM_USAGE,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "mF0maOzqN4",
    },
]
GEM_BODY = GEM_CHUNKS[1]
GEM_SSE = eol(sse([(None, c) for c in GEM_CHUNKS]), b"\r\n")  # Google sends CRLF
GEM_ARRAY = ("[" + ",\r\n".join(json.dumps(c, indent=2, ensure_ascii=False) for c in GEM_CHUNKS) + "]").encode()

# gemini-2.5-flash: 500 audio tokens in the prompt, an 800-token cache hit of text only (its bill: $0.000834)
GEM_AUDIO_USAGE = {
    "promptTokenCount": 1500,
    "candidatesTokenCount": 100,
    "totalTokenCount": 1600,
    "cachedContentTokenCount": 800,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}, {"modality": "AUDIO", "tokenCount": 500}],
    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 800}],
    "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 100}],
}
GEM_AUDIO_CHUNKS = [
    {**GEM_CHUNKS[0], "usageMetadata": {k: GEM_AUDIO_USAGE[k] for k in (
        "promptTokenCount", "cachedContentTokenCount", "promptTokensDetails", "cacheTokensDetails")}},
    {**GEM_CHUNKS[1], "usageMetadata": GEM_AUDIO_USAGE},
]
GEM_AUDIO_SSE = eol(sse([(None, c) for c in GEM_AUDIO_CHUNKS]), b"\r\n")
GEM_AUDIO_ARRAY = ("[" + ",\r\n".join(json.dumps(c, indent=2) for c in GEM_AUDIO_CHUNKS) + "]").encode()
