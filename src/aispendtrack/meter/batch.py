"""Batch results (JSONL) metered line by line as they pass: tokens summed per model.

OpenAI Batch output files (`GET /v1/files/<output_file_id>/content`): one line per request,
`{"id", "custom_id", "response": {"status_code", "request_id", "body": {…}}, "error"}`; the
body is a chat completion, embeddings list or Responses object with `model` and `usage`.
Anthropic Message Batches results (`GET /v1/messages/batches/<id>/results`): one line per
request, `{"custom_id", "result": {"type": "succeeded", "message": {…}}}`; the errored,
canceled and expired types carry no usage (and are not billed).

A line without usage (an error line, another file's line) is counted in `unmetered`, never
as 0 tokens. Memory stays flat: only the current line is held (`NDJSONParser`), and each
model keeps running sums.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aispendtrack.meter import usage as u
from aispendtrack.meter.decode import Decoder, DecodeError
from aispendtrack.meter.ndjson import NDJSONParser
from aispendtrack.meter.types import Metered

MAX_LINE = 16 * 1024 * 1024  # one result line (a long answer is a few hundred KB)
MAX_DECODED = 8 * 1024 * 1024 * 1024  # a batch holds up to 50k requests; the bound is a bomb guard
_SUMMED = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


@dataclass
class ModelSum:
    """The summed usage of one model's requests in a batch."""

    metered: Metered = field(default_factory=lambda: Metered(has_usage=True, details={}))
    requests: int = 0


@dataclass
class BatchResult:
    """What a results file held: usage per model (None: model not named), line counts."""

    models: dict[str | None, ModelSum] = field(default_factory=dict)
    lines: int = 0  # result lines seen
    unmetered: int = 0  # lines without usage: errored, canceled, expired, not a result line
    error: str | None = None

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.models.values())


def line_usage(obj: object) -> tuple[str | None, Metered] | None:
    """(model, usage) of one results line, or None when it carries no usage."""
    if not isinstance(obj, dict):
        return None
    result = obj.get("result")
    if isinstance(result, dict):  # Anthropic Message Batches
        msg = result.get("message")
        if result.get("type") != "succeeded" or not isinstance(msg, dict) or not isinstance(msg.get("usage"), dict):
            return None
        return _model(msg), u.anthropic(msg["usage"])
    body = u.dig(obj, "response", "body")
    if not isinstance(body, dict) or not isinstance(body.get("usage"), dict):
        return None  # OpenAI: an error line (`response` null, or a body without usage)
    usage = body["usage"]
    kind = body.get("object")
    if kind == "response" or "input_tokens" in usage:
        m = u.responses(usage, "openai")
    elif kind == "list" or "completion_tokens" not in usage:
        m = u.embeddings(usage, "openai")
    else:
        m = u.openai_chat(usage, "openai")
    return _model(body), m


def _model(obj: dict) -> str | None:
    model = obj.get("model")
    return model if isinstance(model, str) and model else None


def add(total: Metered, m: Metered) -> None:
    """Add one request's usage to a model's sums; an unknown count makes the sum unknown
    only when every request left it unknown (a count one API never reports, like output of
    embeddings, stays None)."""
    for name in _SUMMED:
        v = getattr(m, name)
        if v is not None:
            setattr(total, name, (getattr(total, name) or 0) + v)
    for k, v in m.details.items():
        if isinstance(v, int):
            total.details[k] = total.details.get(k, 0) + v
    if m.invalid and not total.invalid:
        total.invalid = m.invalid


class BatchMeter:
    """Observer of one results download: `feed` each wire chunk (b"" at the end); the bytes
    go on unchanged. Never raises: a problem stops parsing and is kept in `result.error`."""

    def __init__(self, content_encoding: str | None = None, max_line: int = MAX_LINE) -> None:
        self.result = BatchResult()
        self.ended = False  # the end of the body was seen
        self._lines = NDJSONParser(max_line)
        self._parsing = True
        try:
            self._decoder: Decoder | None = Decoder(content_encoding, self._on_decoded, MAX_DECODED)
        except DecodeError as e:
            self._decoder = None
            self._stop(str(e))

    def feed(self, chunk: bytes) -> bytes:
        try:
            if not chunk:
                self.ended = True
            if self._parsing and self._decoder is not None:
                if chunk:
                    self._decoder.feed(chunk)
                else:
                    if (last := self._lines.finish()) is not None:
                        self._line(last)
                    self.result.lines += self._lines.too_long  # dropped unparsed: counted, not metered
                    self.result.unmetered += self._lines.too_long
        except DecodeError as e:
            self._stop(str(e))
        except Exception as e:  # never break the download
            self._stop(f"internal error: {type(e).__name__}: {e}")
        return chunk

    def _on_decoded(self, data: bytes) -> None:
        for line in self._lines.feed(data):
            self._line(line)
        if self._lines.too_long and self.result.error is None:
            self.result.error = f"batch result line over {self._lines.max_line} bytes not metered"

    def _line(self, line: bytes) -> None:
        r = self.result
        r.lines += 1
        try:
            found = line_usage(json.loads(line))
        except (ValueError, RecursionError):
            found = None
            r.error = r.error or "malformed JSON line in batch results"
        if found is None:
            r.unmetered += 1
            return
        model, m = found
        s = r.models.get(model)
        if s is None:
            s = r.models[model] = ModelSum()
        add(s.metered, m)
        s.requests += 1

    def _stop(self, msg: str) -> None:
        self._parsing = False
        self.result.error = self.result.error or msg[:200]
