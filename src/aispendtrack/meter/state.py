"""Per-call accumulation of parsed JSON objects (whole bodies, SSE events, array elements)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aispendtrack.families import registry
from aispendtrack.meter import bedrock, usage
from aispendtrack.meter.types import Metered

_RESPONSES_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


def guess_shape(obj: dict) -> str:
    """Shape of an object from an API we were not told about."""
    if "usageMetadata" in obj or "candidates" in obj:
        return "gemini"
    if "prompt_eval_count" in obj or "eval_count" in obj:
        return "ollama"
    t = obj.get("type")
    if isinstance(t, str) and (t.startswith("message") or t.startswith("content_block")):
        return "anthropic"
    if (isinstance(t, str) and t.startswith("response.")) or obj.get("object") == "response":
        return "responses"
    return "openai"


class Accumulator:
    """Keeps the model, the latest usage and whether the terminal event was seen."""

    def __init__(self, provider: str | None, api: str) -> None:
        self.provider = (provider or "").lower()
        self.api = api
        dialect = registry.usage(api)  # the family's usage dialect (see `aispendtrack.families`)
        self.shape = dialect if isinstance(dialect, str) else None
        self._parse = dialect if callable(dialect) else None  # a family's own usage parser
        self.model: str | None = None
        self.usage: Metered | None = None
        self.terminal = False
        self._finished = False  # an OpenAI choice carried finish_reason
        self._anth: dict[str, Any] = {}
        self._anth_delta = False
        self._bedrock = api in bedrock.APIS  # the path names the model; the body's is not priced
        self._metrics: dict | None = None  # Bedrock's amazon-bedrock-invocationMetrics

    def feed(self, obj: Any) -> bool:
        """Account one object; True when it is an OpenAI usage-only chunk (`choices: []`)."""
        if not isinstance(obj, dict):
            return False
        if self._parse is not None:
            self._own(obj)
            return False
        shape = self.shape or guess_shape(obj)
        if shape == "openai" or shape == "embeddings":
            return self._openai(obj, shape)
        if shape == "responses":
            self._responses(obj)
        elif shape == "anthropic":
            self._anthropic(obj)
        elif shape == "gemini":
            self._gemini(obj)
        elif shape == "ollama":
            self._ollama(obj)
        elif shape == "converse":
            self._converse(obj)
        return False

    def done(self) -> None:
        """`data: [DONE]` seen."""
        self.terminal = True

    def result(self, *, streamed: bool) -> Metered:
        if self.shape == "anthropic" or (self.shape is None and self._anth):
            m = usage.anthropic(self._anth) if self._anth else Metered()
            if streamed and self._anth and not self._anth_delta:
                # message_start's output_tokens is a placeholder; the real figure only
                # arrives in message_delta
                m.output_tokens = None
                m.details.pop("output_tokens", None)
            if self._metrics is not None:
                m = bedrock.with_metrics(m, self._metrics)
        else:
            m = replace(self.usage, details=dict(self.usage.details)) if self.usage else Metered()
        m.model = self.model
        m.partial = streamed and not self.terminal
        return m

    def _set_model(self, v: Any) -> None:
        if isinstance(v, str) and v and self.model is None and not self._bedrock:
            self.model = v

    def _openai(self, obj: dict, shape: str) -> bool:
        self._set_model(obj.get("model"))
        choices = obj.get("choices")
        if isinstance(choices, list):
            for c in choices:
                if isinstance(c, dict) and c.get("finish_reason"):
                    self._finished = True
        u = obj.get("usage")
        if not isinstance(u, dict):
            u = usage.dig(obj, "x_groq", "usage")  # Groq's stream chunks put it there
        if not isinstance(u, dict):
            return False
        parse = usage.embeddings if shape == "embeddings" else usage.openai_chat
        self.usage = parse(u, self.provider)
        # usage after the last choice is final (some providers send it with choices)
        if self._finished or choices == [] or choices is None:
            self.terminal = True
        return choices == [] and isinstance(obj.get("usage"), dict)

    def _responses(self, obj: dict) -> None:
        t = obj.get("type")
        resp = obj.get("response")
        if isinstance(t, str) and t.startswith("response.") and isinstance(resp, dict):
            self._set_model(resp.get("model"))
            if t in _RESPONSES_TERMINAL:
                self.terminal = True
                if isinstance(resp.get("usage"), dict):
                    self.usage = usage.responses(resp["usage"], self.provider)
        elif t is None or obj.get("object") == "response":  # whole, non-streamed response
            self._set_model(obj.get("model"))
            if isinstance(obj.get("usage"), dict):
                self.usage = usage.responses(obj["usage"], self.provider)

    def _anthropic(self, obj: dict) -> None:
        t = obj.get("type")
        if self._bedrock and isinstance(obj.get(bedrock.METRICS), dict):
            self._metrics = obj[bedrock.METRICS]
            self.terminal = True
        if t == "message_start":
            msg = obj.get("message")
            self._set_model(usage.dig(msg, "model"))
            u = usage.dig(msg, "usage")
            if isinstance(u, dict):
                self._merge(u)
        elif t == "message_delta":
            u = obj.get("usage")
            if isinstance(u, dict):
                # cumulative running totals: the latest value of each field wins
                self._merge(u)
                self._anth_delta = True
                self.terminal = True
        elif t == "message_stop":
            self.terminal = True
        elif t == "message":  # whole, non-streamed message
            self._set_model(obj.get("model"))
            if isinstance(obj.get("usage"), dict):
                self._anth = {}
                self._merge(obj["usage"])
                self._anth_delta = True

    def _merge(self, u: dict) -> None:
        for k, v in u.items():
            if v is None:
                continue
            if isinstance(v, dict):
                cur = self._anth.get(k)
                merged = dict(cur) if isinstance(cur, dict) else {}
                merged.update({ik: iv for ik, iv in v.items() if iv is not None})
                self._anth[k] = merged
            else:
                self._anth[k] = v

    def _gemini(self, obj: dict) -> None:
        self._set_model(obj.get("modelVersion"))
        u = obj.get("usageMetadata")
        if isinstance(u, dict):
            self.usage = usage.gemini(u)  # each chunk carries the running total: last wins
        cands = obj.get("candidates")
        if isinstance(cands, list) and any(isinstance(c, dict) and c.get("finishReason") for c in cands):
            self.terminal = True

    def _ollama(self, obj: dict) -> None:
        self._set_model(obj.get("model"))
        if obj.get("done") is True:  # the last object of /api/chat and /api/generate, streamed or not
            self.terminal = True
            self.usage = usage.ollama(obj)
        elif "done" not in obj and ("embeddings" in obj or "prompt_eval_count" in obj):  # /api/embed
            self.terminal = True
            self.usage = usage.ollama(obj)

    def _own(self, obj: dict) -> None:
        self._set_model(obj.get("model"))
        m = self._parse(obj, self.provider)
        if m is not None:  # a family's own parser returns usage only once the call is complete
            self.usage = m
            self.terminal = True

    def _converse(self, obj: dict) -> None:
        u = obj.get("usage")  # a Converse body, or ConverseStream's final metadata event
        if isinstance(u, dict):
            self.usage = bedrock.converse_usage(u)
            self.usage.invalid = self.usage.invalid or bedrock.unpriced_mode(obj.get("serviceTier"),
                                                                             obj.get("performanceConfig"))
            self.terminal = True
