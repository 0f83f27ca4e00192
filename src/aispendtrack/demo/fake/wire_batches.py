"""Batch APIs of the fake provider: OpenAI Files + Batch, Anthropic Message Batches.

Stateful (the only part of the fake that is): uploaded files and created batches live in
a `FakeBatches` held by the server. A batch is done at once: its results are each request
answered by the fake's own handlers (`wire.build`, non-streamed), in the shapes the
providers document — OpenAI's output file `{"id", "custom_id", "response": {"status_code",
"request_id", "body"}, "error"}` lines, Anthropic's `{"custom_id", "result": {"type":
"succeeded", "message"}}` lines. A status read right after creation still shows the batch
in progress (OpenAI `validating` with no `output_file_id`, Anthropic `in_progress` with no
`results_url`); every later read shows it ended. OpenAI results are sent chunked in pieces
of RESULT_PIECE bytes, so lines arrive split across chunks; Anthropic's as one body with a
Content-Length (both ways a download can come).

Knobs: an Anthropic request whose `custom_id` starts with `error`, `cancel` or `expire`
gets an errored, canceled or expired result; an OpenAI request whose `custom_id` starts
with `error` gets a 400 line in the batch's error file.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from aispendtrack.demo.fake.wire import build
from aispendtrack.demo.fake.wire_core import Call, Reply, error_body, json_reply, prompt_text, split_text

RESULT_PIECE = 97
_OPENAI_APIS = {"/v1/chat/completions": "chat", "/v1/embeddings": "embeddings", "/v1/responses": "responses",
                "/v1/completions": "completions"}
_FILE = re.compile(r"^/v1/files/([^/]+)(/content)?$")
_BATCH = re.compile(r"^/v1/batches/([^/]+)$")
_MSG_BATCH = re.compile(r"^/v1/messages/batches/([^/]+)(/results)?$")
Answer = Callable[[str, str, dict], dict]  # (provider, api, request body) -> the response body


def _lines(objs: list[dict]) -> bytes:
    return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n" for o in objs)


def _pieces(data: bytes) -> list[bytes]:
    return [data[i:i + RESULT_PIECE] for i in range(0, len(data), RESULT_PIECE)] or [b""]


def _multipart(headers: dict[str, str], body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, content) of a multipart/form-data body."""
    head = f"Content-Type: {headers.get('content-type', '')}\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    return {part.get_param("name", header="content-disposition"): (part.get_filename(), part.get_payload(decode=True))
            for part in msg.iter_parts()} if msg.is_multipart() else {}


class FakeBatches:
    def __init__(self, fake) -> None:
        self.fake = fake  # the FakeProvider: its usage, reply text, model override and scheme
        self._lock = threading.Lock()
        self.files: dict[str, dict[str, Any]] = {}  # id -> file object + "content"
        self.batches: dict[str, dict[str, Any]] = {}  # OpenAI and Anthropic batch objects, by id
        self.results: dict[str, bytes] = {}  # Anthropic batch id -> results JSONL
        self.reads: dict[str, int] = {}  # status reads per batch

    def answer(self, provider: str, api: str, req: dict) -> dict:
        """One request of a batch, answered as the fake answers the call itself (not streamed)."""
        f = self.fake
        text = f.reply_text or f"Fake reply to: {prompt_text(api, req)[:40]}".rstrip(": ")
        call = Call(provider, api, {**req, "stream": False}, split_text(text, f.chunks), f.usage,
                    f"fake-batch-{uuid.uuid4().hex[:12]}", f.model_override)
        return json.loads(build(call).body or b"{}")

    def handle(self, method: str, target: str, h: dict[str, str], body: bytes) -> Reply | None:
        """The reply of a batch route, or None when `target` is not one."""
        answer = self.answer
        p = target.split("?", 1)[0].rstrip("/")
        with self._lock:
            if method == "POST" and p == "/v1/files":
                return self._upload(h, body)
            if method == "GET" and (m := _FILE.match(p)):
                f = self.files.get(m.group(1))
                if f is None:
                    return json_reply(error_body("openai", 404, f"No such File object: {m.group(1)}"), 404)
                if m.group(2):
                    return Reply(content_type="application/octet-stream", frames=_pieces(f["content"]))
                return json_reply({k: v for k, v in f.items() if k != "content"})
            if method == "POST" and p == "/v1/batches":
                return self._openai_create(body, answer)
            if method == "GET" and (m := _BATCH.match(p)):
                return self._read("openai", m.group(1), h)
            if method == "POST" and p == "/v1/messages/batches":
                return self._anthropic_create(body, answer)
            if method == "GET" and (m := _MSG_BATCH.match(p)):
                if not m.group(2):
                    return self._read("anthropic", m.group(1), h)
                data = self.results.get(m.group(1))
                if data is None:
                    return json_reply(error_body("anthropic", 404, f"No batch {m.group(1)}"), 404)
                return Reply(content_type="application/binary", body=data)  # with a Content-Length
        return None

    def _upload(self, h: dict[str, str], body: bytes) -> Reply:
        parts = _multipart(h, body)
        if "file" not in parts:
            return json_reply(error_body("openai", 400, "Missing file"), 400)
        filename, content = parts["file"]
        purpose = (parts.get("purpose") or (None, b"batch"))[1].decode()
        return json_reply({k: v for k, v in self._file(content, filename or "upload.jsonl", purpose).items()
                           if k != "content"})

    def _file(self, content: bytes, filename: str, purpose: str) -> dict:
        fid = "file-" + uuid.uuid4().hex[:24]
        f = {"id": fid, "object": "file", "bytes": len(content), "created_at": int(time.time()), "filename": filename,
             "purpose": purpose, "status": "processed", "expires_at": None, "status_details": None,
             "content": content}
        self.files[fid] = f
        return f

    def _openai_create(self, body: bytes, answer: Answer) -> Reply:
        req = json.loads(body or b"{}")
        src = self.files.get(req.get("input_file_id"))
        if src is None:
            return json_reply(error_body("openai", 400, "input_file_id names no uploaded file"), 400)
        bid = "batch_" + uuid.uuid4().hex[:24]
        out, errors = [], []
        for i, line in enumerate(ln for ln in src["content"].splitlines() if ln.strip()):
            item = json.loads(line)
            rid = f"req_{uuid.uuid4().hex[:16]}"
            row: dict[str, Any] = {"id": f"batch_req_{uuid.uuid4().hex[:16]}", "custom_id": item.get("custom_id")}
            if str(item.get("custom_id", "")).startswith("error"):
                errors.append({**row, "response": {"status_code": 400, "request_id": rid, "body": error_body(
                    "openai", 400, "Invalid request")}, "error": None})
                continue
            api = _OPENAI_APIS.get(item.get("url", req.get("endpoint")), "chat")
            out.append({**row, "response": {"status_code": 200, "request_id": rid,
                                            "body": answer("openai", api, item.get("body") or {})}, "error": None})
        now = int(time.time())
        done = {"output_file_id": self._file(_lines(out), f"{bid}_output.jsonl", "batch_output")["id"],
                "error_file_id": self._file(_lines(errors), f"{bid}_error.jsonl", "batch_output")["id"]
                if errors else None,
                "status": "completed", "completed_at": now, "finalizing_at": now, "in_progress_at": now,
                "request_counts": {"total": len(out) + len(errors), "completed": len(out), "failed": len(errors)}}
        batch = {"id": bid, "object": "batch", "endpoint": req.get("endpoint"), "errors": None,
                 "input_file_id": src["id"], "completion_window": req.get("completion_window", "24h"),
                 "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": now,
                 "in_progress_at": None, "expires_at": now + 86400, "finalizing_at": None, "completed_at": None,
                 "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
                 "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": req.get("metadata"),
                 "_done": done}
        self.batches[bid] = batch
        return self._shown(batch)

    def _anthropic_create(self, body: bytes, answer: Answer) -> Reply:
        req = json.loads(body or b"{}")
        bid = "msgbatch_" + uuid.uuid4().hex[:24]
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        lines = []
        for r in req.get("requests") or []:
            cid = str(r.get("custom_id"))
            kind = next((k for p, k in (("error", "errored"), ("cancel", "canceled"), ("expire", "expired"))
                         if cid.startswith(p)), "succeeded")
            counts[kind] += 1
            if kind == "succeeded":
                message = answer("anthropic", "messages", r.get("params") or {})
                message["usage"]["service_tier"] = "batch"  # as Anthropic reports a batch's requests
                result = {"type": kind, "message": message}
            elif kind == "errored":
                result = {"type": kind, "error": error_body("anthropic", 400, "Invalid request")}
            else:
                result = {"type": kind}
            lines.append({"custom_id": cid, "result": result})
        self.results[bid] = _lines(lines)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        batch = {"id": bid, "type": "message_batch", "processing_status": "in_progress",
                 "request_counts": {**counts, "processing": len(lines), "succeeded": 0, "errored": 0,
                                    "canceled": 0, "expired": 0},
                 "ended_at": None, "created_at": now, "expires_at": now, "archived_at": None,
                 "cancel_initiated_at": None, "results_url": None,
                 "_done": {"processing_status": "ended", "request_counts": counts, "ended_at": now}}
        self.batches[bid] = batch
        return self._shown(batch)

    def _read(self, provider: str, bid: str, h: dict[str, str]) -> Reply:
        batch = self.batches.get(bid)
        if batch is None:
            return json_reply(error_body(provider, 404, f"No such batch: {bid}"), 404)
        batch.update(batch.pop("_done", {}))
        if provider == "anthropic":
            batch["results_url"] = f"{'https' if self.fake.tls else 'http'}://{h.get('host', '127.0.0.1')}/v1/messages/batches/{bid}/results"
        return self._shown(batch)

    @staticmethod
    def _shown(batch: dict) -> Reply:
        return json_reply({k: v for k, v in batch.items() if not k.startswith("_")})
