"""Ollama native API samples, shaped as Ollama's docs/api.md and its Go `api` types show them."""

from __future__ import annotations

import json

CREATED = "2026-12-01T19:22:45.499127Z"
DURATIONS = {"total_duration": 4883583458, "load_duration": 1334875, "prompt_eval_duration": 342546000,
             "eval_duration": 4535599000}


def ndjson(objs: list[dict]) -> bytes:
    """Ollama's framing: one compact JSON object per line, each line ended by "\\n"."""
    return b"".join(json.dumps(o, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for o in objs)


def chat_piece(text: str, model: str = "llama3.2", thinking: str | None = None) -> dict:
    message = {"role": "assistant", "content": text}
    if thinking is not None:
        message["thinking"] = thinking
    return {"model": model, "created_at": CREATED, "message": message, "done": False}


def chat_done(model: str = "llama3.2", **counts) -> dict:
    return {"model": model, "created_at": CREATED, "message": {"role": "assistant", "content": ""},
            "done": True, "done_reason": "stop", **DURATIONS, **counts}


CHAT_PIECES = [chat_piece("The"), chat_piece(" sky is blue 🌤 because"), chat_piece(" of Rayleigh scattering.")]
CHAT_DONE = chat_done(prompt_eval_count=26, eval_count=282)
CHAT_STREAM = ndjson([*CHAT_PIECES, CHAT_DONE])
# An older server that found the whole prompt in its cache leaves prompt_eval_count out.
CHAT_DONE_CACHED_PROMPT = chat_done(eval_count=282)
CHAT_STREAM_CACHED_PROMPT = ndjson([*CHAT_PIECES, CHAT_DONE_CACHED_PROMPT])
# A server that reports the cached part of the prompt.
CHAT_DONE_WITH_CACHED = chat_done(prompt_eval_count=1200, prompt_eval_cached_count=1024, eval_count=300)
THINKING_STREAM = ndjson([chat_piece("", model="qwen3:8b", thinking="Let me think."), chat_piece("42", model="qwen3:8b"),
                          chat_done(model="qwen3:8b", prompt_eval_count=18, eval_count=97)])
# Non-streamed (`"stream": false`): the done object alone, with the whole message.
CHAT_BODY = {**CHAT_DONE, "message": {"role": "assistant", "content": "The sky is blue because of Rayleigh scattering."}}
CHAT_ERROR_MID_STREAM = ndjson([*CHAT_PIECES, {"error": "an error was encountered while running the model: unexpected EOF"}])

GENERATE_PIECES = [{"model": "llama3.2", "created_at": CREATED, "response": w, "done": False} for w in ("The", " sky", " is")]
GENERATE_DONE = {"model": "llama3.2", "created_at": CREATED, "response": "", "done": True, "done_reason": "stop",
                 "context": [128006, 882, 128007, 271, 10445, 374, 279, 13180, 6437, 30], **DURATIONS,
                 "prompt_eval_count": 26, "eval_count": 259}
GENERATE_STREAM = ndjson([*GENERATE_PIECES, GENERATE_DONE])
GENERATE_BODY = {**GENERATE_DONE, "response": "The sky is blue because it is the color of the sky."}

EMBED_BODY = {"model": "all-minilm", "embeddings": [[0.010071029, -0.0017594862, 0.05007221, 0.04692972]],
              "total_duration": 14143917, "load_duration": 1019500, "prompt_eval_count": 8}
# The legacy /api/embeddings answer carries no counts at all.
LEGACY_EMBEDDINGS_BODY = {"embedding": [0.5670403838157654, 0.009260174818336964, 0.23178744316101074]}
