"""Anthropic wire formats of the fake provider: messages, count_tokens, models."""

from __future__ import annotations

from aispendtrack.demo.fake.wire_core import SSE, Call, Reply, event_frame, json_reply


def anthropic_models(c: Call) -> Reply:
    ids = ["claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6"]
    data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in ids]
    return json_reply({"data": data, "has_more": False, "first_id": ids[0], "last_id": ids[-1]})


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
