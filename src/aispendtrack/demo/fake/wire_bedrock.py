"""Amazon Bedrock Runtime in the fake provider: Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream (Anthropic models), as AWS's API reference shows them.

Requests must be SigV4-signed with the fake's credentials (`sigv4.py`) or carry a Bedrock
API key (`Authorization: Bearer …`); anything else is refused 403 the way AWS does. Streams
are `application/vnd.amazon.eventstream` frames, one per write, with the `p` padding field
Bedrock adds to each payload. Usage follows `UsageSpec` (input = total, cache included):
`inputTokens` / `input_tokens` / `inputTokenCount` are the uncached part.

A tool-use InvokeModelWithResponseStream (the body has `tools`) reports in `message_delta`
fewer output tokens than its `amazon-bedrock-invocationMetrics`, as real ones sometimes do.
`x-fake-flavor: corrupt` flips a bit of the second frame's CRC, `truncated` cuts the last
frame short, `exception` ends the stream with a `modelStreamErrorException` message;
`flex` / `priority` answer as served in that service tier (`serviceTier`, and the
`X-Amzn-Bedrock-Service-Tier` header).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aispendtrack.demo.fake import sigv4
from aispendtrack.demo.fake.script import Fault
from aispendtrack.demo.fake.wire_core import Call, Reply
from aispendtrack.meter.eventstream import CONTENT_TYPE, encode_message

ANTHROPIC_MODEL = "claude-3-5-sonnet-20241022"  # what Bedrock's Anthropic bodies name
TOOL_SHORTFALL = 9  # output tokens a tool-use stream's message_delta leaves out
_PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _j(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _pad(i: int) -> str:
    return _PAD[: 5 + (i * 7) % 40]


TIERS = ("flex", "priority")


def _headers(c: Call, **extra: str) -> list[tuple[str, str]]:
    tier = [("X-Amzn-Bedrock-Service-Tier", c.flavor)] if c.flavor in TIERS else []
    return [("x-amzn-RequestId", c.rid("bdrk-") + "-4b1e-9c1a-000000000000"), *tier, *extra.items()]


def _tier(c: Call) -> dict:
    return {"serviceTier": {"type": c.flavor}} if c.flavor in TIERS else {}


def refusal(method: str, target: str, headers: dict[str, str], body: bytes) -> Fault | None:
    """AWS's 403 for a request without a valid signature (or API key), answered before any
    scripted fault; None when it may pass."""
    if headers.get("authorization", "").startswith("Bearer "):
        return None
    problem = sigv4.verify(method, target, headers, body)
    if problem is None:
        return None
    kind = "MissingAuthenticationTokenException" if problem.startswith("Missing") else (
        "UnrecognizedClientException" if "security token" in problem else "InvalidSignatureException")
    return Fault.error(403, _j({"message": problem}), [("x-amzn-ErrorType", kind)])


def counts(c: Call) -> dict[str, int]:
    u = c.usage
    return {"uncached": u.input - u.cache_read - u.cache_write, "read": u.cache_read, "write": u.cache_write,
            "output": u.output}


def converse_usage(c: Call) -> dict[str, int]:
    n = counts(c)
    return {"inputTokens": n["uncached"], "outputTokens": n["output"], "totalTokens": c.usage.input + n["output"],
            "cacheReadInputTokens": n["read"], "cacheWriteInputTokens": n["write"]}


def anthropic_usage(c: Call, output: int | None = None) -> dict[str, int]:
    n = counts(c)
    return {"input_tokens": n["uncached"], "cache_creation_input_tokens": n["write"],
            "cache_read_input_tokens": n["read"], "output_tokens": n["output"] if output is None else output}


def invocation_metrics(c: Call) -> dict[str, int]:
    n = counts(c)
    return {"inputTokenCount": n["uncached"], "outputTokenCount": n["output"], "invocationLatency": 2210,
            "firstByteLatency": 412, "cacheReadInputTokenCount": n["read"], "cacheWriteInputTokenCount": n["write"]}


def bedrock_converse(c: Call) -> Reply:
    if c.api == "bedrock-converse-stream":
        return _stream(c, _converse_events(c))
    body = {"output": {"message": {"role": "assistant", "content": [{"text": c.text}]}}, "stopReason": "end_turn",
            "usage": converse_usage(c), "metrics": {"latencyMs": 2210}, **_tier(c)}
    return Reply(body=_j(body), headers=_headers(c))


def _converse_events(c: Call) -> list[tuple[str, dict]]:
    events = [("messageStart", {"role": "assistant"})]
    events += [("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}) for p in c.pieces]
    events += [("contentBlockStop", {"contentBlockIndex": 0}), ("messageStop", {"stopReason": "end_turn"}),
               ("metadata", {"usage": converse_usage(c), "metrics": {"latencyMs": 2210}, **_tier(c)})]
    return events


def bedrock_invoke(c: Call) -> Reply:
    tools = bool(c.body.get("tools"))
    if c.api == "bedrock-invoke-stream":
        return _stream(c, [("chunk", {"bytes": base64.b64encode(_j(e)).decode()}) for e in _anthropic_events(c, tools)])
    content = [{"type": "text", "text": c.text}]
    message = {"id": c.rid("msg_bdrk_01"), "type": "message", "role": "assistant", "model": ANTHROPIC_MODEL,
               "content": content, "stop_reason": "end_turn", "stop_sequence": None, "usage": anthropic_usage(c)}
    n = counts(c)
    return Reply(body=_j(message), headers=_headers(
        c, **{"X-Amzn-Bedrock-Invocation-Latency": "2210", "X-Amzn-Bedrock-Input-Token-Count": str(n["uncached"]),
              "X-Amzn-Bedrock-Output-Token-Count": str(n["output"])}))


def _anthropic_events(c: Call, tools: bool) -> list[dict]:
    start = {"id": c.rid("msg_bdrk_01"), "type": "message", "role": "assistant", "model": ANTHROPIC_MODEL,
             "content": [], "stop_reason": None, "stop_sequence": None, "usage": anthropic_usage(c, output=1)}
    events: list[dict] = [{"type": "message_start", "message": start}]
    if tools:
        block = {"type": "tool_use", "id": c.rid("toolu_bdrk_01"), "name": "get_weather", "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": part} for part in ('{"city": ', '"Paris"}')]
    else:
        block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in c.pieces]
    events.append({"type": "content_block_start", "index": 0, "content_block": block})
    events += [{"type": "content_block_delta", "index": 0, "delta": d} for d in deltas]
    events.append({"type": "content_block_stop", "index": 0})
    said = c.usage.output - TOOL_SHORTFALL if tools else c.usage.output
    events.append({"type": "message_delta", "delta": {"stop_reason": "tool_use" if tools else "end_turn",
                                                      "stop_sequence": None}, "usage": {"output_tokens": said}})
    events.append({"type": "message_stop", "amazon-bedrock-invocationMetrics": invocation_metrics(c)})
    return events


def _stream(c: Call, events: list[tuple[str, dict]]) -> Reply:
    frames = [encode_message({":event-type": name, ":content-type": "application/json", ":message-type": "event"},
                             _j({**payload, "p": _pad(i)})) for i, (name, payload) in enumerate(events)]
    if c.flavor == "corrupt":
        broken = bytearray(frames[1])
        broken[-1] ^= 0x01
        frames[1] = bytes(broken)
    elif c.flavor == "truncated":
        frames[-1] = frames[-1][: len(frames[-1]) // 2]
    elif c.flavor == "exception":
        frames[-1] = encode_message({":exception-type": "modelStreamErrorException",
                                     ":content-type": "application/json", ":message-type": "exception"},
                                    _j({"message": "The model stream was interrupted.", "originalStatusCode": 500}))
    extra = {"X-Amzn-Bedrock-Content-Type": "application/json"} if c.api == "bedrock-invoke-stream" else {}
    return Reply(content_type=CONTENT_TYPE, frames=frames, headers=_headers(c, **extra))
