"""Bedrock usage: Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream bodies and
streams as the fake provider sends them (AWS's shapes; decoded by botocore below), metered."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.eventstream import EventStreamBuffer

from aispendtrack.demo.fake.wire import build
from aispendtrack.demo.fake.wire_bedrock import TOOL_SHORTFALL
from aispendtrack.demo.fake.wire_core import Call, UsageSpec
from aispendtrack.meter import StreamMeter, meter_body
from aispendtrack.meter.bedrock import converse_usage, metrics_usage
from aispendtrack.meter.pricing import Pricer

U = UsageSpec()  # 1200 in (400 cache reads, 100 cache writes), 300 out
MODEL = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
ANTHROPIC = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
             "messages": [{"role": "user", "content": "hi"}]}


def reply(api: str, body: dict | None = None, flavor: str = ""):
    return build(Call("aws", api, body or {}, ["Fake ", "reply ", "to: hi"], U, "fake-000001-abcdef123456",
                      path_model=MODEL, flavor=flavor))


def streamed(api: str, frames: list[bytes], *, cuts: int | None = None) -> tuple[StreamMeter, bytes]:
    sm = StreamMeter("aws", api, eventstream=True)
    data = b"".join(frames)
    pieces = frames if cuts is None else [data[i:i + cuts] for i in range(0, len(data), cuts)]
    out = b"".join(sm.feed(p) for p in pieces)
    sm.feed(b"")
    return sm, out


def exact(m, *, output=U.output):
    assert (m.input_tokens, m.output_tokens, m.cache_read_tokens, m.cache_write_tokens) == (
        U.input, output, U.cache_read, U.cache_write)
    assert m.has_usage and not m.partial and not m.invalid


def test_converse_body():
    m = meter_body("aws", "bedrock-converse", reply("bedrock-converse").body)
    exact(m)
    assert m.model is None  # the path names the model; the ledger takes it from there
    assert m.error is None


@pytest.mark.parametrize("cuts", [None, 1, 7, 64])
def test_converse_stream_metadata_event(cuts):
    r = reply("bedrock-converse-stream")
    buf = EventStreamBuffer()
    buf.add_data(b"".join(r.frames))
    events = [m.headers[":event-type"] for m in buf]
    assert events[0] == "messageStart" and events[-2:] == ["messageStop", "metadata"]
    sm, out = streamed("bedrock-converse-stream", r.frames, cuts=cuts)
    assert out == b"".join(r.frames)  # forwarded untouched
    exact(sm.result())
    assert sm.terminal


def test_invoke_body_is_anthropic_shape():
    m = meter_body("aws", "bedrock-invoke", reply("bedrock-invoke", ANTHROPIC).body)
    exact(m)
    assert m.model is None  # not the body's "claude-3-5-sonnet-20241022": the path's id is priced


def test_invoke_stream_chunks_and_metrics():
    r = reply("bedrock-invoke-stream", ANTHROPIC)
    buf = EventStreamBuffer()
    buf.add_data(b"".join(r.frames))
    last = json.loads(base64.b64decode(json.loads(list(buf)[-1].payload)["bytes"]))
    assert last["type"] == "message_stop" and last["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == U.output
    sm, _ = streamed("bedrock-invoke-stream", r.frames, cuts=5)
    m = sm.result()
    exact(m)
    assert m.error is None  # metrics and message_delta agree: nothing to say


def test_tool_use_stream_metrics_win_and_the_row_says_so():
    sm, _ = streamed("bedrock-invoke-stream", reply("bedrock-invoke-stream", {**ANTHROPIC, "tools": [{}]}).frames)
    m = sm.result()
    exact(m)  # what AWS bills, not message_delta's figure
    assert m.error == ("usage from amazon-bedrock-invocationMetrics (what AWS bills); the Anthropic stream's usage "
                       f"disagreed: output {U.output} (metrics) vs {U.output - TOOL_SHORTFALL} (message_delta)")


@pytest.mark.parametrize("flavor,why", [
    ("corrupt", "message CRC mismatch"), ("truncated", "truncated"), ("exception", "modelStreamErrorException")])
@pytest.mark.parametrize("api", ["bedrock-converse-stream", "bedrock-invoke-stream"])
def test_an_unreadable_stream_is_forwarded_and_unmetered(api, flavor, why):
    r = reply(api, ANTHROPIC, flavor)
    sm, out = streamed(api, r.frames, cuts=3)
    assert out == b"".join(r.frames)
    m = sm.result()
    assert not m.has_usage and m.input_tokens is None and m.output_tokens is None
    assert "event stream not metered" in m.error and why in m.error


def test_a_stream_cut_before_the_metadata_event_has_no_usage():
    frames = reply("bedrock-converse-stream").frames[:-1]  # ends at a frame boundary, before metadata
    m = streamed("bedrock-converse-stream", frames)[0].result()
    assert not m.has_usage and m.partial


def test_buffered_event_stream_body():
    exact(meter_body("aws", "bedrock-converse-stream", b"".join(reply("bedrock-converse-stream").frames)))


def test_garbage_counts_are_never_priced():
    m = converse_usage({"inputTokens": -3, "outputTokens": 5})
    assert m.invalid and m.input_tokens is None
    assert metrics_usage({"outputTokenCount": 4}).input_tokens is None  # unknown, never 0


def test_cache_ttl_split():
    m = converse_usage({"inputTokens": 10, "outputTokens": 2, "cacheWriteInputTokens": 30,
                        "cacheDetails": [{"ttl": "1h", "inputTokens": 30}]})
    assert m.input_tokens == 40 and m.details["cache_write_1h_tokens"] == 30


@pytest.mark.parametrize("model,ref", [
    (MODEL, "regional.anthropic.claude-3-5-sonnet-20241022-v2:0"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "regional.anthropic.claude-3-7-sonnet-20250219-v1:0"),
    ("amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
])
def test_priced_by_genai_prices_bedrock_entries(model, ref):
    m = meter_body("aws", "bedrock-converse", reply("bedrock-converse").body)
    priced = Pricer().price(m, model, "aws")
    assert (priced.pricing, priced.source, priced.model_ref) == ("priced", "genai-prices", ref)
    assert priced.cost_usd > 0


@pytest.mark.parametrize("model", ["arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
                                   "anthropic.claude-v9-unreleased",
                                   "anthropic.claude-v2:1"])  # Anthropic's own list knows claude-2: not Bedrock's price
def test_unknown_model_is_unpriced_never_zero(model):
    m = meter_body("aws", "bedrock-converse", reply("bedrock-converse").body)
    priced = Pricer().price(m, model, "aws")
    assert (priced.pricing, priced.cost_usd) == ("unpriced", None)


@pytest.mark.parametrize("api", ["bedrock-converse", "bedrock-converse-stream"])
def test_a_non_standard_service_tier_keeps_tokens_and_is_unpriced(api):
    r = reply(api, flavor="flex")
    m = streamed(api, r.frames)[0].result() if r.frames else meter_body("aws", api, r.body)
    assert (m.input_tokens, m.output_tokens) == (U.input, U.output)
    assert "'flex' service tier" in m.invalid
    assert Pricer().price(m, MODEL, "aws").pricing == "unpriced"
    standard = meter_body("aws", "bedrock-converse", reply("bedrock-converse", flavor="").body)
    assert standard.invalid is None


def test_optimized_latency_is_unpriced_and_standard_settings_are_not():
    from aispendtrack.meter.bedrock import unpriced_mode
    body = json.loads(reply("bedrock-converse").body)
    m = meter_body("aws", "bedrock-converse", json.dumps({**body, "performanceConfig": {"latency": "optimized"}}).encode())
    assert m.input_tokens == U.input and "'optimized' latency setting" in m.invalid
    assert unpriced_mode("flex", None).startswith("served with Bedrock's 'flex' service tier")
    assert unpriced_mode({"type": "default"}, {"latency": "standard"}) is None
    assert unpriced_mode("default", "standard") is None and unpriced_mode() is None


def test_metrics_without_cache_counts_keep_the_bodys_and_its_ttl_split():
    from aispendtrack.meter.bedrock import with_metrics
    from aispendtrack.meter.usage import anthropic
    body = anthropic({"input_tokens": 10, "cache_read_input_tokens": 50, "cache_creation_input_tokens": 30,
                      "cache_creation": {"ephemeral_1h_input_tokens": 30}, "output_tokens": 7})
    m = with_metrics(body, {"inputTokenCount": 10, "outputTokenCount": 9})  # an older metrics object: no cache
    assert (m.input_tokens, m.cache_read_tokens, m.cache_write_tokens, m.output_tokens) == (90, 50, 30, 9)
    assert m.details["cache_write_1h_tokens"] == 30  # priced at the 1 h rate, as the body said
    assert m.error.endswith("output 9 (metrics) vs 7 (message_delta)")
    other = with_metrics(body, {"inputTokenCount": 10, "outputTokenCount": 7, "cacheReadInputTokenCount": 50,
                                "cacheWriteInputTokenCount": 40})
    assert "cache_write_1h_tokens" not in other.details  # the split no longer adds up: not carried over
    assert "cache write 40 (metrics) vs 30 (message_delta)" in other.error
