"""Usage from an SSE event too large to keep whole (sse.py keeps its head and tail).

Providers put usage at the end of their terminal events (`response.completed` after the
whole `output`, Gemini's `usageMetadata` after `candidates`), so the kept tail holds it.
`summary()` finds the event's type and model and its last complete usage object, and
returns a small object of the same shape for the accumulator: a long answer is metered
like a short one, without holding megabytes.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

_TYPE = re.compile(rb'"type"\s*:\s*"([A-Za-z0-9_.]{1,64})"')
_COLON = re.compile(rb"\s*:\s*")
_STRING = re.compile(rb'"([^"\\]{1,200})"')
_DECODER = json.JSONDecoder(parse_float=Decimal)


def _values(data: bytes, key: bytes):
    """Offsets of the values of `"key":` in `data`, last first. Found with `rfind` (a regex
    with alternatives or a look-behind crawls through a megabyte of text); a key inside a
    JSON string has its quotes escaped, so it is never found."""
    needle = b'"' + key + b'"'
    pos = len(data)
    while (pos := data.rfind(needle, 0, pos)) != -1:
        if pos and data[pos - 1] == 0x5C:  # \" : inside a string
            continue
        m = _COLON.match(data, pos + len(needle))
        if m is not None:
            yield m.end()


def _usage(data: bytes) -> tuple[str, dict] | None:
    """The last usage object that parses whole (key name, object)."""
    for key in ("usage", "usageMetadata"):
        for at in _values(data, key.encode()):
            if data[at : at + 1] != b"{":
                continue
            try:
                obj, _ = _DECODER.raw_decode(data[at:].decode("utf-8", "replace"))
            except ValueError:
                continue
            if isinstance(obj, dict):
                return key, obj
    return None


def _model(data: bytes) -> str | None:
    """The first model named (the response's own, before its output)."""
    for key in (b"model", b"modelVersion"):
        for at in reversed(list(_values(data, key))):
            if m := _STRING.match(data, at):
                return m.group(1).decode("utf-8", "replace")
    return None


def _finished(data: bytes) -> bool:
    return any(True for key in (b"finish_reason", b"finishReason") for at in _values(data, key)
               if data[at : at + 1] == b'"')


def summary(name: str | None, data: bytes, head: int) -> dict | None:
    """A small object standing for the cut event `data` (its first `head` bytes, then its tail)."""
    typ = _TYPE.search(data, 0, head)
    kind = name or (typ.group(1).decode() if typ else None)
    model = _model(data)
    found = _usage(data)
    if found is None and model is None:
        return None
    key, usage = found if found else (None, None)
    if key == "usageMetadata":
        finished = [{"finishReason": "STOP"}] if _finished(data) else []
        return {"usageMetadata": usage, "modelVersion": model, "candidates": finished}
    if kind and kind.startswith("response."):
        return {"type": kind, "response": {"model": model, **({"usage": usage} if usage else {})}}
    if kind == "message_start":
        return {"type": kind, "message": {"model": model, **({"usage": usage} if usage else {})}}
    if kind and kind.startswith("message"):
        return {"type": kind, "model": model, **({"usage": usage} if usage else {})}
    finished = [{"finish_reason": "stop"}] if _finished(data) else None
    return {"model": model, **({"usage": usage, "choices": finished} if usage else {})}
