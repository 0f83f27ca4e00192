"""Ollama's native API in the fake provider: /api/chat, /api/generate, /api/embed, /api/embeddings.

As Ollama's docs/api.md shows it: streamed unless the body says `"stream": false`, as
NDJSON (`application/x-ndjson`, one compact JSON object per line); the last object has
`"done": true` and the counts (`prompt_eval_count`, `eval_count`) and durations.
`x-fake-flavor: old` answers like an older server whose prompt came from its cache (no
`prompt_eval_count`); `x-fake-flavor: cached` adds `prompt_eval_cached_count`.
"""

from __future__ import annotations

import json
from typing import Any

from aispendtrack.demo.fake.wire_core import Call, Reply

NDJSON = "application/x-ndjson"
_DURATIONS = {"total_duration": 4883583458, "load_duration": 1334875, "prompt_eval_duration": 342546000,
              "eval_duration": 4535599000}
CREATED_AT = "2026-12-01T19:22:45.499127Z"
_CONTEXT = [128006, 882, 128007, 271, 10445, 374, 279, 13180, 6437, 30]


def _line(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def ollama_counts(c: Call, *, output: bool = True) -> dict:
    u = c.usage
    counts: dict[str, int] = {}
    if c.flavor != "old":
        counts["prompt_eval_count"] = u.input
    if c.flavor == "cached":
        counts["prompt_eval_cached_count"] = u.cache_read
    if output:
        counts["eval_count"] = u.output
    return counts


def _reply(c: Call, piece, done: dict) -> Reply:
    head = {"model": c.model, "created_at": CREATED_AT}
    if not c.stream:
        whole = {**head, **piece(c.text), **done}
        return Reply(content_type="application/json; charset=utf-8", body=json.dumps(whole).encode())
    frames = [_line({**head, **piece(p), "done": False}) for p in c.pieces]
    frames.append(_line({**head, **piece(""), **done}))
    return Reply(content_type=NDJSON, frames=frames)


def ollama_chat(c: Call) -> Reply:
    done = {"done": True, "done_reason": "stop", **_DURATIONS, **ollama_counts(c)}
    return _reply(c, lambda text: {"message": {"role": "assistant", "content": text}}, done)


def ollama_generate(c: Call) -> Reply:
    done = {"done": True, "done_reason": "stop", "context": _CONTEXT, **_DURATIONS, **ollama_counts(c)}
    return _reply(c, lambda text: {"response": text}, done)


def _inputs(c: Call) -> list:
    given = c.body.get("input", c.body.get("prompt", ""))
    return given if isinstance(given, list) else [given]


def ollama_embed(c: Call) -> Reply:
    vectors = [[0.010071029, -0.0017594862, 0.05007221, 0.04692972] for _ in _inputs(c)]
    body = {"model": c.model, "embeddings": vectors, "total_duration": 14143917, "load_duration": 1019500,
            **ollama_counts(c, output=False)}
    return Reply(content_type="application/json; charset=utf-8", body=json.dumps(body).encode())


def ollama_embeddings(c: Call) -> Reply:
    """The legacy endpoint: one vector, no counts at all."""
    body = {"embedding": [0.5670403838157654, 0.009260174818336964, 0.23178744316101074]}
    return Reply(content_type="application/json; charset=utf-8", body=json.dumps(body).encode())
