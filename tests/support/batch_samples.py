"""Batch results files as the providers document them (OpenAI Batch output / error files,
Anthropic Message Batches results), one JSON object per line."""

import json

CHAT_USAGE = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
              "prompt_tokens_details": {"cached_tokens": 40, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 5, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def openai_line(i: int, model: str = "gpt-4o-mini", usage: dict | None = None, *, kind: str = "chat") -> dict:
    if kind == "embeddings":
        body = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}], "model": model,
                "usage": usage or {"prompt_tokens": 8, "total_tokens": 8}}
    elif kind == "responses":
        body = {"id": f"resp_{i}", "object": "response", "status": "completed", "model": model, "output": [],
                "usage": usage or {"input_tokens": 50, "input_tokens_details": {"cached_tokens": 10},
                                   "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 4},
                                   "total_tokens": 70}}
    else:
        body = {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1711652795, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": usage or CHAT_USAGE, "system_fingerprint": "fp_3ba"}
    return {"id": f"batch_req_{i}", "custom_id": f"request-{i}",
            "response": {"status_code": 200, "request_id": f"req_{i}", "body": body}, "error": None}


def openai_error_line(i: int) -> dict:
    """A line of the error file: the request failed, nothing billed."""
    return {"id": f"batch_req_{i}", "custom_id": f"request-{i}",
            "response": {"status_code": 400, "request_id": f"req_{i}",
                         "body": {"error": {"message": "Invalid model", "type": "invalid_request_error",
                                            "param": "model", "code": None}}}, "error": None}


ANTHROPIC_USAGE = {"input_tokens": 100, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 30,
                   "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 0},
                   "output_tokens": 40, "service_tier": "batch"}


def anthropic_line(i: int, model: str = "claude-sonnet-4-6", usage: dict | None = None) -> dict:
    msg = {"id": f"msg_{i}", "type": "message", "role": "assistant", "model": model,
           "content": [{"type": "text", "text": "Hello."}], "stop_reason": "end_turn", "stop_sequence": None,
           "usage": usage or ANTHROPIC_USAGE}
    return {"custom_id": f"request-{i}", "result": {"type": "succeeded", "message": msg}}


def anthropic_other(i: int, kind: str) -> dict:
    if kind == "errored":
        return {"custom_id": f"request-{i}", "result": {"type": "errored", "error": {
            "type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}}}}
    return {"custom_id": f"request-{i}", "result": {"type": kind}}


def jsonl(lines: list[dict], *, final_newline: bool = True) -> bytes:
    text = "\n".join(json.dumps(line, separators=(",", ":")) for line in lines)
    return (text + ("\n" if final_newline else "")).encode()
