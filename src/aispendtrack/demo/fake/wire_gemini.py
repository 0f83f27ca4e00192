"""Gemini wire format of the fake provider: generateContent / streamGenerateContent."""

from __future__ import annotations

import json
from typing import Any

from aispendtrack.demo.fake.wire_core import Call, Reply, data_frame, json_reply


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
