"""Amazon Bedrock Runtime usage: Converse, ConverseStream, InvokeModel(WithResponseStream).

- Converse (`usage`) and ConverseStream (the `usage` of the final `metadata` event):
  `inputTokens` is the input outside the prompt cache, `cacheReadInputTokens` and
  `cacheWriteInputTokens` the cached parts (genai-prices' own Bedrock extractor adds the
  three for the total input), `outputTokens` the output.
- InvokeModel with an Anthropic model: Anthropic's message JSON (meter/state.py reads it).
- InvokeModelWithResponseStream: `chunk` events whose payload is `{"bytes": base64}` of an
  Anthropic stream event; the last one also carries `amazon-bedrock-invocationMetrics`
  (`inputTokenCount` outside the cache like Anthropic's `input_tokens`,
  `cacheReadInputTokenCount`, `cacheWriteInputTokenCount`, `outputTokenCount`). Those are
  what AWS bills: they win over the Anthropic `message_delta` usage, and where the two
  disagree (some tool-use streams) the row's note says so, with both figures.

A call served in another service tier than the standard one (`serviceTier` of a Converse
body or metadata event, the `X-Amzn-Bedrock-Service-Tier` response header: `flex`,
`priority`, `reserved`) or with optimized latency (`performanceConfig.latency`, the
`X-Amzn-Bedrock-PerformanceConfig-Latency` header) is billed at rates genai-prices does not
list: its tokens are kept and it is `unpriced`, never priced at the standard rate.

A stream message that cannot be read (an `exception` message, a payload that is not JSON,
bytes that are not base64) raises `Unreadable`: the stream is then unmetered, never guessed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from decimal import Decimal

from aispendtrack.meter.eventstream import EventStreamParser, FrameError, Message
from aispendtrack.meter.types import Metered
from aispendtrack.meter.usage import Counts, build, input_with_cache

CONVERSE = "bedrock-converse"
CONVERSE_STREAM = "bedrock-converse-stream"
INVOKE = "bedrock-invoke"
INVOKE_STREAM = "bedrock-invoke-stream"
APIS = frozenset({CONVERSE, CONVERSE_STREAM, INVOKE, INVOKE_STREAM})
METRICS = "amazon-bedrock-invocationMetrics"
_METRICS_B = METRICS.encode()
# (Metered field, how the note names it, the invocation metrics' name when it is a cache count)
_COMPARED = (
    ("input_tokens", "input", None),
    ("output_tokens", "output", None),
    ("cache_read_tokens", "cache read", "cacheReadInputTokenCount"),
    ("cache_write_tokens", "cache write", "cacheWriteInputTokenCount"),
)
_TTL_SPLIT = ("cache_write_5m_tokens", "cache_write_1h_tokens")


class Unreadable(ValueError):
    """A Bedrock stream message that cannot be metered."""


def converse_usage(u: dict) -> Metered:
    """Converse / ConverseStream `usage` (also `cacheDetails`: the writes per cache TTL)."""
    c = Counts()
    total, read, write = input_with_cache(c, u, "inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
    extra: dict[str, int | None] = {}
    details = u.get("cacheDetails")
    for item in details if isinstance(details, list) else []:
        ttl = item.get("ttl") if isinstance(item, dict) else None
        if ttl in ("5m", "1h"):
            extra[f"cache_write_{ttl}_tokens"] = c(item, "inputTokens")
    return c.apply(build(total, c(u, "outputTokens", total=True), read, write, None, extra))


TIER_HEADER = "x-amzn-bedrock-service-tier"
LATENCY_HEADER = "x-amzn-bedrock-performanceconfig-latency"
_STANDARD = frozenset({"", "default", "standard"})


def unpriced_mode(tier: object = None, latency: object = None) -> str | None:
    """Why a call served in `tier` (a ServiceTier object or the header's text) or with
    `latency` (a PerformanceConfiguration or the header's text) is not priced; None if it is."""
    for value, key, what in ((tier, "type", "service tier"), (latency, "latency", "latency setting")):
        name = value.get(key) if isinstance(value, dict) else value
        if isinstance(name, str) and name.strip().lower() not in _STANDARD:
            return f"served with Bedrock's {name[:40]!r} {what}, which genai-prices does not price: tokens kept, unpriced"
    return None


def tier_headers(m: Metered, headers) -> Metered:
    """`m`, unpriced when the response's headers name a non-standard tier or latency (all that
    InvokeModel says of them); `headers`: any mapping with case-insensitive `get`."""
    if m.has_usage and (why := unpriced_mode(headers.get(TIER_HEADER), headers.get(LATENCY_HEADER))):
        m.invalid = m.invalid or why
    return m


def metrics_usage(m: dict) -> Metered:
    """`amazon-bedrock-invocationMetrics` of an InvokeModelWithResponseStream's last chunk."""
    c = Counts()
    total, read, write = input_with_cache(c, m, "inputTokenCount", "cacheReadInputTokenCount",
                                          "cacheWriteInputTokenCount")
    return c.apply(build(total, c(m, "outputTokenCount", total=True), read, write))


def with_metrics(body: Metered, metrics: dict) -> Metered:
    """The invocation metrics' usage (what AWS bills), noting where the Anthropic body's
    usage (`body`, from message_start/message_delta) said otherwise. A cache count the
    metrics leave out (older ones have none) is the body's; so is the cache writes' split
    by TTL when the metrics agree on their total (they have no split)."""
    metrics = dict(metrics)
    for key, _, name in _COMPARED:
        if name is not None and metrics.get(name) is None and getattr(body, key) is not None:
            metrics[name] = getattr(body, key)
    billed = metrics_usage(metrics)
    if not billed.has_usage:
        return body  # metrics without counts: the body's usage is all there is
    if billed.cache_write_tokens == body.cache_write_tokens:
        billed.details.update({k: body.details[k] for k in _TTL_SPLIT if k in body.details})
    diffs = []
    for key, label, _ in _COMPARED:
        ours, theirs = getattr(billed, key), getattr(body, key)
        if ours is not None and theirs is not None and ours != theirs:
            diffs.append(f"{label} {ours} (metrics) vs {theirs} (message_delta)")
    if diffs:
        billed.error = (f"usage from {METRICS} (what AWS bills); the Anthropic stream's usage disagreed: "
                        + ", ".join(diffs))
    return billed


def payload_json(msg: Message) -> bytes | None:
    """The JSON worth parsing in one stream message: ConverseStream's `metadata` event, an
    InvokeModelWithResponseStream chunk's decoded bytes; None for events without usage."""
    kind = msg.message_type
    if kind in ("exception", "error"):
        name = msg.headers.get(":exception-type") or msg.headers.get(":error-code") or "error"
        raise Unreadable(f"the stream sent {kind} {name}: {msg.payload[:120].decode('utf-8', 'replace')}")
    event = msg.event_type
    if event == "metadata":
        return msg.payload
    if event != "chunk":
        return None  # messageStart, contentBlockDelta, …: no usage in them
    try:
        encoded = json.loads(msg.payload)["bytes"]
        data = base64.b64decode(encoded, validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise Unreadable(f"a chunk event's payload is not base64 JSON: {type(e).__name__}") from None
    if b'"content_block_delta"' in data and _METRICS_B not in data:
        return None  # the bulk of the stream: text deltas
    return data


class Frames:
    """A Bedrock event stream's parser for `StreamMeter`: frames in, the objects with usage
    handed to `feed_obj`. `feed` and `finish` raise `Unreadable` — for good — when a frame
    fails its checks, the stream ends inside a frame, or a message cannot be read."""

    def __init__(self, feed_obj: Callable[[object], object]) -> None:
        self._parser = EventStreamParser()
        self._feed_obj = feed_obj
        self.failed: str | None = None  # why the stream cannot be metered

    @property
    def items(self) -> int:
        return self._parser.items  # messages: the stream's unit of work

    def feed(self, data: bytes) -> None:
        try:
            messages, error = self._parser.feed(data), None
        except FrameError as e:
            messages, error = getattr(e, "messages", []), e  # those completed before the bad frame
        try:
            for msg in messages:
                payload = payload_json(msg)
                if payload is not None:
                    self._feed_obj(json.loads(payload, parse_float=Decimal))
        except (ValueError, RecursionError) as e:  # Unreadable is a ValueError too
            error = e
        if error is not None:
            self._fail(error)

    def finish(self) -> None:
        try:
            self._parser.finish()
        except FrameError as e:
            self._fail(e)

    def _fail(self, error: Exception) -> None:
        self.failed = f"event stream not metered: {str(error)[:160]}"
        raise Unreadable(self.failed) from None
