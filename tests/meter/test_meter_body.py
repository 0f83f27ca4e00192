import gzip
import json
import zlib
from decimal import Decimal

import brotli
import pytest
import zstandard

from aispendtrack.meter import Metered, StreamMeter, meter_body
from support.meter_samples import (
    ANTH_BODY,
    ANTH_STREAM,
    CHAT_BODY,
    CHAT_STREAM,
    GEM_ARRAY,
    GEM_AUDIO_ARRAY,
    GEM_AUDIO_CHUNKS,
    GEM_AUDIO_SSE,
    GEM_BODY,
    GEM_SSE,
    RESP_BODY,
    RESP_STREAM,
)

CHAT = dict(model="gpt-4o-2024-08-06", input_tokens=1200, output_tokens=300, cache_read_tokens=1024,
            cache_write_tokens=None, reasoning_tokens=128)
RESP = dict(model="o4-mini-2025-04-16", input_tokens=900, output_tokens=400, cache_read_tokens=512,
            cache_write_tokens=None, reasoning_tokens=256)
ANTH = dict(model="claude-sonnet-4-20250514", input_tokens=12025, output_tokens=150, cache_read_tokens=10000,
            cache_write_tokens=2000, reasoning_tokens=None)
GEM = dict(model="gemini-2.5-flash", input_tokens=500, output_tokens=200, cache_read_tokens=256,
           cache_write_tokens=None, reasoning_tokens=120)

# (provider, api, body object, whole SSE / streamed bytes, sse?, expected)
FAMILIES = [
    ("openai", "chat", CHAT_BODY, CHAT_STREAM, True, CHAT),
    ("openai", "responses", RESP_BODY, RESP_STREAM, True, RESP),
    ("anthropic", "messages", ANTH_BODY, ANTH_STREAM, True, ANTH),
    ("google", "generate", GEM_BODY, GEM_SSE, True, GEM),
    ("google", "generate", GEM_BODY, GEM_ARRAY, False, GEM),
]


def check(m: Metered, expected: dict) -> None:
    got = {k: getattr(m, k) for k in expected}
    assert got == expected
    assert m.has_usage


@pytest.mark.parametrize("provider,api,body,stream,is_sse,expected", FAMILIES)
def test_streamed_and_whole_bodies_agree(provider, api, body, stream, is_sse, expected):
    whole = meter_body(provider, api, json.dumps(body).encode())
    check(whole, expected)
    assert not whole.partial and whole.error is None
    sm = StreamMeter(provider, api, sse=is_sse)
    assert sm.feed(stream) is stream
    sm.feed(b"")
    streamed = sm.result()
    check(streamed, expected)
    assert not streamed.partial and streamed.error is None
    assert streamed.details == whole.details
    # a buffered stream handed to meter_body is metered like the stream
    buffered = meter_body(provider, api, stream)
    check(buffered, expected)
    assert buffered.details == whole.details


def test_details_use_genai_prices_keys():
    from genai_prices.units import _get_registry

    keys = set(_get_registry().units)
    for provider, api, body, *_ in FAMILIES:
        assert set(meter_body(provider, api, json.dumps(body).encode()).details) <= keys
    anth = meter_body("anthropic", "messages", json.dumps(ANTH_BODY).encode()).details
    assert anth == {"input_tokens": 12025, "output_tokens": 150, "cache_read_tokens": 10000,
                    "cache_write_tokens": 2000, "cache_write_5m_tokens": 1500, "cache_write_1h_tokens": 500}


def test_details_match_genai_prices_extract_usage():
    # our extraction agrees with genai-prices' own extractors on non-streamed bodies
    from genai_prices import extract_usage

    cases = [
        ("openai", "chat", "chat", CHAT_BODY),
        ("openai", "responses", "responses", RESP_BODY),
        ("anthropic", "messages", "default", ANTH_BODY),
        ("google", "generate", "default", GEM_BODY),
    ]
    for provider, api, flavor, body in cases:
        ours = meter_body(provider, api, json.dumps(body).encode()).details
        theirs = extract_usage(body, provider_id=provider, api_flavor=flavor).usage
        assert {k: v for k, v in ours.items() if v} == {k: v for k, v in theirs._reported_values().items() if v}


def _deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


ENCODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate-raw": _deflate_raw,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_body_content_encodings(name):
    raw = json.dumps(ANTH_BODY).encode()
    m = meter_body("anthropic", "messages", ENCODERS[name](raw), content_encoding=name.split("-")[0])
    check(m, ANTH)


def test_body_errors_never_raise():
    assert meter_body("openai", "chat", b"").error == "empty body"
    m = meter_body("openai", "chat", b"{not json")
    assert not m.has_usage and m.error.startswith("malformed JSON")
    m = meter_body("openai", "chat", b"\x1f\x8b garbage", content_encoding="gzip")
    assert not m.has_usage and "gzip" in m.error
    m = meter_body("openai", "chat", b"abc", content_encoding="compress")
    assert not m.has_usage and "unsupported" in m.error
    m = meter_body("openai", "chat", json.dumps({**CHAT_BODY, "usage": None}).encode())
    assert not m.has_usage and m.input_tokens is None and m.output_tokens is None and m.model == "gpt-4o-2024-08-06"
    assert meter_body("openai", "chat", b"[1, 2]").has_usage is False
    garbage = meter_body("openai", "chat", b'{"usage": {"prompt_tokens": -1, "completion_tokens": true}}')
    assert garbage.input_tokens is None and garbage.output_tokens is None
    assert "prompt_tokens=-1" in garbage.invalid and "completion_tokens=True" in garbage.invalid


def test_body_decompression_bomb(monkeypatch):
    from aispendtrack.meter import body

    monkeypatch.setattr(body, "MAX_BODY", 1024 * 1024)
    bomb = gzip.compress(b"{" + b" " * (8 * 1024 * 1024))
    m = meter_body("openai", "chat", bomb, content_encoding="gzip")
    assert not m.has_usage and "exceeds" in m.error


def test_embeddings_and_legacy_completions():
    emb = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}],
           "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}}
    m = meter_body("openai", "embeddings", json.dumps(emb).encode())
    assert (m.model, m.input_tokens, m.output_tokens, m.has_usage) == ("text-embedding-3-small", 8, None, True)
    cmpl = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct",
            "choices": [{"text": "Hi", "index": 0, "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}
    m = meter_body("openai", "completions", json.dumps(cmpl).encode())
    assert (m.input_tokens, m.output_tokens, m.reasoning_tokens) == (5, 7, None)


@pytest.mark.parametrize(
    "provider,usage,expected",
    [
        # DeepSeek: native cache-hit field, no prompt_tokens_details
        ("deepseek", {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                      "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36}, (100, 20, 64, None)),
        # xAI: reasoning is NOT inside completion_tokens (total says so)
        ("x-ai", {"prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 340,
                  "completion_tokens_details": {"reasoning_tokens": 300}}, (30, 310, None, 300)),
        # same provider, total says reasoning is included
        ("x-ai", {"prompt_tokens": 30, "completion_tokens": 310, "total_tokens": 340,
                  "completion_tokens_details": {"reasoning_tokens": 300}}, (30, 310, None, 300)),
        ("openai", CHAT_BODY["usage"], (1200, 300, 1024, 128)),
        ("mistral", {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}, (9, 3, None, None)),
    ],
)
def test_openai_compatible_variations(provider, usage, expected):
    body = {**CHAT_BODY, "model": "m", "usage": usage}
    m = meter_body(provider, "chat", json.dumps(body).encode())
    assert (m.input_tokens, m.output_tokens, m.cache_read_tokens, m.reasoning_tokens) == expected


def test_openrouter_cost_is_exact_decimal():
    from decimal import Decimal

    body = {**CHAT_BODY, "model": "anthropic/claude-sonnet-4",
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost": 0.000105,
                      "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0}}}
    m = meter_body("openrouter", "chat", json.dumps(body).encode())
    assert m.provider_cost == Decimal("0.000105") and m.input_tokens == 10
    assert meter_body("openai", "chat", json.dumps(body).encode()).provider_cost is None


def test_unknown_provider_and_api():
    m = meter_body("some-gateway", "chat", json.dumps(CHAT_BODY).encode())
    check(m, CHAT)
    m = meter_body(None, "other", json.dumps(ANTH_BODY).encode())
    check(m, ANTH)
    m = meter_body(None, "other", json.dumps(GEM_BODY).encode())
    check(m, GEM)


def test_gemini_output_without_candidates_count():
    body = {"candidates": [{"finishReason": "STOP"}], "modelVersion": "gemini-2.5-pro",
            "usageMetadata": {"promptTokenCount": 10, "thoughtsTokenCount": 40, "totalTokenCount": 50,
                              "toolUsePromptTokenCount": 5}}
    m = meter_body("google", "generate", json.dumps(body).encode())
    # tool-use prompt tokens count as input (as genai-prices does); thoughts are output
    assert (m.input_tokens, m.output_tokens, m.reasoning_tokens) == (15, 40, 40)
    body["usageMetadata"] = {"promptTokenCount": 10, "totalTokenCount": 10}
    m = meter_body("google", "generate", json.dumps(body).encode())
    assert (m.input_tokens, m.output_tokens) == (10, 0)


@pytest.mark.parametrize("api, usage, field", [
    ("chat", {"prompt_tokens": 10**30, "completion_tokens": 3}, "prompt_tokens"),
    ("chat", {"prompt_tokens": 4, "completion_tokens": None}, "completion_tokens"),
    ("chat", {"prompt_tokens": 4, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": -1}},
     "prompt_tokens_details.cached_tokens"),
    ("responses", {"input_tokens": "12", "output_tokens": 3}, "input_tokens"),
    ("messages", {"input_tokens": 1.5, "output_tokens": 3}, "input_tokens"),
    ("embeddings", {"prompt_tokens": True}, "prompt_tokens"),
    ("generate", {"promptTokenCount": 1e308, "candidatesTokenCount": 3}, "promptTokenCount"),
])
def test_garbage_counts_are_unknown_and_named(api, usage, field):
    from aispendtrack.meter.pricing import Pricer

    body = {"model": "gpt-4o-mini", "usage": usage} if api != "generate" else {"usageMetadata": usage}
    if api == "messages":
        body["type"] = "message"
    m = meter_body("openai", api, json.dumps(body).encode())
    assert m.has_usage and m.invalid and f"{field}=" in m.invalid
    assert Pricer().price(m, "gpt-4o-mini", "openai").pricing == "unpriced"


def test_valid_counts_are_not_flagged():
    m = meter_body("openai", "chat", json.dumps({"model": "gpt-4o-mini", "usage": {
        "prompt_tokens": 10.0, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": None}}}).encode())
    assert m.invalid is None and m.input_tokens == 10


GEMINI_AUDIO_CACHE_MODELS = ["gemini-2.5-flash", "gemini-2.0-flash", "gemini-2.5-flash-lite", "gemini-3-flash-preview",
                             "gemini-3.1-flash-lite"]


@pytest.mark.parametrize("how", ["whole", "sse", "array"])
@pytest.mark.parametrize("model", GEMINI_AUDIO_CACHE_MODELS)
def test_gemini_audio_prompt_with_a_text_cache_is_priced_exactly(model, how):
    """The cache held no audio (cacheTokensDetails lists TEXT only): priced as genai-prices prices that
    usage told explicitly, by the fast path, never with the audio at the text rate."""
    from datetime import UTC, datetime

    from genai_prices import Usage, calc_price

    from aispendtrack.meter import pricing

    when = datetime(2026, 11, 26, 12, tzinfo=UTC)
    if how == "whole":
        m = meter_body("google", "generate", json.dumps(GEM_AUDIO_CHUNKS[-1]).encode())
    else:
        sm = StreamMeter("google", "generate", sse=how == "sse")
        sm.feed(GEM_AUDIO_SSE if how == "sse" else GEM_AUDIO_ARRAY)
        sm.feed(b"")
        m = sm.result()
    assert not m.partial and m.details["cache_audio_read_tokens"] == 0
    told = Usage(input_tokens=1500, output_tokens=100, cache_read_tokens=800, input_text_tokens=1000,
                 input_audio_tokens=500, cache_text_read_tokens=800, cache_audio_read_tokens=0)
    expected = calc_price(told, model, provider_id="google", genai_request_timestamp=when).total_price
    pricer = pricing.Pricer()
    assert pricer.price(m, model, "google", when=when) == pricing.Priced(
        expected, "priced", "genai-prices", model)
    _, info = pricer.lookup(model, "google")
    assert pricing._fast_cost(pricing._plan(info.get_prices(when)), pricing._usage_values(m)) == expected
    if model == "gemini-2.5-flash":
        assert expected == Decimal("0.000834")  # 200 text · 0.30 + 500 audio · 1.00 + 800 cached · 0.03 + 100 out · 2.50
