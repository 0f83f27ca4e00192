import gzip
import json
import zlib

import brotli
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aispendtrack.meter import StreamMeter
from aispendtrack.meter import stream as stream_mod
from support.meter_samples import (
    ANTH_HEAD,
    ANTH_STREAM,
    ANTH_TAIL,
    CHAT_CHUNKS,
    CHAT_STREAM,
    CHAT_STREAM_NO_USAGE,
    CHAT_USAGE,
    CHAT_USAGE_CHUNK,
    GEM_ARRAY,
    GEM_CHUNKS,
    GEM_SSE,
    RESP_EVENTS,
    RESP_STREAM,
    _chunk,
    eol,
    sse,
)

CASES = {
    "chat": ("openai", "chat", CHAT_STREAM, True),
    "responses": ("openai", "responses", RESP_STREAM, True),
    "anthropic": ("anthropic", "messages", ANTH_STREAM, True),
    "gemini-sse": ("google", "generate", GEM_SSE, True),
    "gemini-array": ("google", "generate", GEM_ARRAY, False),
}


def run(provider, api, parts, **kw):
    sm = StreamMeter(provider, api, **kw)
    out = [sm.feed(p) for p in parts if p]  # b"" means end of stream
    out.append(sm.feed(b""))
    return sm.result(), b"".join(out)


def whole(name):
    provider, api, data, is_sse = CASES[name]
    return run(provider, api, [data], sse=is_sse)[0]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_split_at_every_offset(name, ending):
    provider, api, data, is_sse = CASES[name]
    if is_sse:
        data = eol(data.replace(b"\r\n", b"\n"), ending)
    ref = whole(name)
    assert ref.has_usage and not ref.partial and ref.error is None
    for k in range(len(data) + 1):
        m, out = run(provider, api, [data[:k], data[k:]], sse=is_sse)
        assert m == ref, k
        assert out == data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(CASES)), cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12))
def test_random_splits(name, cuts):
    provider, api, data, is_sse = CASES[name]
    points = sorted({c % (len(data) + 1) for c in cuts})
    parts = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    m, out = run(provider, api, parts, sse=is_sse)
    assert m == whole(name)
    assert out == data


def test_byte_by_byte():
    for name, (provider, api, data, is_sse) in CASES.items():
        parts = [data[i : i + 1] for i in range(len(data))]
        assert run(provider, api, parts, sse=is_sse)[0] == whole(name), name


def _deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


ENCODE = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate-raw": _deflate_raw,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


@settings(max_examples=120, deadline=None)
@given(
    enc=st.sampled_from(sorted(ENCODE)),
    name=st.sampled_from(sorted(CASES)),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=10),
)
def test_compressed_streams_split_anywhere(enc, name, cuts):
    provider, api, data, is_sse = CASES[name]
    body = ENCODE[enc](data)
    points = sorted({c % (len(body) + 1) for c in cuts})
    parts = [body[a:b] for a, b in zip([0, *points], [*points, len(body)])]
    m, out = run(provider, api, parts, sse=is_sse, content_encoding=enc.split("-")[0])
    assert m == whole(name)
    assert out == body


@pytest.mark.parametrize("enc", ["gzip", "br", "zstd"])
def test_compressed_every_offset(enc):
    body = ENCODE[enc](ANTH_STREAM)
    for k in range(len(body) + 1):
        m, _ = run("anthropic", "messages", [body[:k], body[k:]], content_encoding=enc)
        assert m == whole("anthropic"), k


def test_unknown_encoding_passes_through():
    sm = StreamMeter("openai", "chat", content_encoding="compress")
    assert sm.feed(CHAT_STREAM) is CHAT_STREAM
    sm.feed(b"")
    m = sm.result()
    assert not m.has_usage and "unsupported" in m.error


def test_corrupt_compressed_stream_passes_through():
    sm = StreamMeter("openai", "chat", content_encoding="gzip")
    junk = b"\x1f\x8b\x08\x00garbage-garbage"
    assert sm.feed(junk) is junk
    sm.feed(b"")
    assert "gzip" in sm.result().error


def test_an_event_over_the_bound_is_kept_as_head_and_tail(monkeypatch):
    monkeypatch.setattr(stream_mod, "MAX_EVENT", 64 * 1024)
    big = b"data: " + b"x" * (200 * 1024)
    sm = StreamMeter("openai", "chat", content_encoding="gzip")
    body = gzip.compress(CHAT_STREAM[:50] + big)
    for i in range(0, len(body), 100):
        piece = body[i : i + 100]
        assert sm.feed(piece) is piece
    sm.feed(b"")
    m = sm.result()
    assert not m.has_usage and m.partial and m.error is None
    assert sm._sse.dropped > 100 * 1024


def responses_completed(output_bytes: int) -> bytes:
    text = "word " * (output_bytes // 5)
    event = {"type": "response.completed", "sequence_number": 9, "response": {
        "id": "resp_1", "object": "response", "status": "completed", "model": "gpt-4.1-2025-04-14",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": text,
                                                    "annotations": [{"usage": {"input_tokens": -1}}]}]}],
        "tools": [], "usage": {"input_tokens": 1500, "input_tokens_details": {"cached_tokens": 1000},
                               "output_tokens": 900000, "output_tokens_details": {"reasoning_tokens": 0},
                               "total_tokens": 901500}}}
    return (b'event: response.created\ndata: {"type":"response.created","response":{"model":"gpt-4.1"}}\n\n'
            b"event: response.completed\ndata: " + json.dumps(event).encode() + b"\n\n")


def meter_traced(data: bytes):
    """(result, peak bytes allocated while metering `data` in 64 KB chunks)."""
    import tracemalloc

    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    sm = StreamMeter("openai", "responses")
    tracemalloc.start()
    try:
        for c in chunks:
            assert sm.feed(c) is c
        sm.feed(b"")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return sm.result(), peak


def test_usage_of_a_huge_terminal_event_is_found_with_flat_memory():
    small, small_peak = meter_traced(responses_completed(8 << 20))  # twice the bound
    m, peak = meter_traced(responses_completed(48 << 20))  # twelve times
    for r in (small, m):
        assert (r.input_tokens, r.cache_read_tokens, r.output_tokens) == (1500, 1000, 900000)
        assert r.model == "gpt-4.1" and not r.partial and r.error is None
    # memory does not grow with the event: the pending line up to the bound, one copy of it
    # and the kept tail, for 8 MB and 48 MB alike
    assert max(small_peak, peak) < 3.5 * stream_mod.MAX_EVENT, (small_peak, peak)


@pytest.mark.parametrize("name, tail, expect", [
    (None, b'"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":9},'
           b'"modelVersion":"gemini-2.5-flash"}', (7, 9)),
    ("message_delta", b'"delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}', (None, 9)),
    (None, b'"choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":9}}', (7, 9)),
])
def test_cut_summary_per_shape(name, tail, expect):
    from aispendtrack.meter import cut

    head = b'{"type":"x","model":"m","text":"' + b"y" * 100
    obj = cut.summary(name, head + b"\n" + b"z" * 50 + tail, len(head))
    u = obj.get("usage") or obj.get("usageMetadata")
    got = (u.get("prompt_tokens", u.get("promptTokenCount")), u.get("completion_tokens", u.get("candidatesTokenCount",
                                                                                           u.get("output_tokens"))))
    assert got == expect


def test_decoded_total_cap(monkeypatch):
    monkeypatch.setattr(stream_mod, "MAX_DECODED", 1024 * 1024)
    bomb = gzip.compress(b": keepalive\n\n" * 200_000)
    sm = StreamMeter("openai", "chat", content_encoding="gzip")
    assert sm.feed(bomb) is bomb
    assert "exceeds" in sm.result().error


# --- semantics -----------------------------------------------------------------------------


def test_chat_usage_on_chunk_with_choices_and_x_groq():
    last = _chunk({}, "stop", model="llama-3.3-70b-versatile")
    groq = {**last, "x_groq": {"id": "req_01", "usage": {"queue_time": 0.02, "prompt_tokens": 40,
                                                         "prompt_time": 0.001, "completion_tokens": 12,
                                                         "completion_time": 0.01, "total_tokens": 52,
                                                         "total_time": 0.011}}}
    data = sse([(None, _chunk({"content": "hi"}, model="llama-3.3-70b-versatile")), (None, groq)], done=True)
    m, _ = run("groq", "chat", [data])
    assert (m.model, m.input_tokens, m.output_tokens, m.partial) == ("llama-3.3-70b-versatile", 40, 12, False)
    # DeepSeek style: usage on the last chunk that still has choices
    ds = {**_chunk({}, "stop", model="deepseek-chat"),
          "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                    "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36}}
    m, _ = run("deepseek", "chat", [sse([(None, ds)], done=True)])
    assert (m.input_tokens, m.output_tokens, m.cache_read_tokens) == (100, 20, 64)


def test_openrouter_comments_and_cost():
    from decimal import Decimal

    usage = {**CHAT_USAGE, "cost": 0.0123456789}
    chunks = [(None, c) for c in CHAT_CHUNKS] + [(None, {**CHAT_USAGE_CHUNK, "usage": usage})]
    data = sse(chunks, done=True, comments=("OPENROUTER PROCESSING", "OPENROUTER PROCESSING"))
    data = data.replace(b"data: {", b": OPENROUTER PROCESSING\n\ndata: {", 2)
    for k in range(0, len(data), 7):
        m, out = run("openrouter", "chat", [data[:k], data[k:]])
        assert m.provider_cost == Decimal("0.0123456789") and m.input_tokens == 1200 and out == data


def test_chat_stream_without_usage_is_unmetered_not_zero():
    m, _ = run("openai", "chat", [CHAT_STREAM_NO_USAGE])
    assert not m.has_usage and m.input_tokens is None and m.output_tokens is None
    assert m.model == "gpt-4o-2024-08-06" and not m.partial


def test_truncated_streams_are_partial():
    cut = CHAT_STREAM[: CHAT_STREAM.index(b'"choices": []')]
    m, _ = run("openai", "chat", [cut])
    assert m.partial and not m.has_usage and m.model == "gpt-4o-2024-08-06"

    m, _ = run("anthropic", "messages", [sse(ANTH_HEAD)])
    assert m.partial and m.has_usage
    assert (m.input_tokens, m.output_tokens, m.cache_read_tokens, m.cache_write_tokens) == (12025, None, 10000, 2000)
    assert "output_tokens" not in m.details

    m, _ = run("anthropic", "messages", [sse(ANTH_HEAD + ANTH_TAIL[:1])])
    assert m.output_tokens == 100  # running total seen so far
    m, _ = run("anthropic", "messages", [sse(ANTH_HEAD + ANTH_TAIL[:2])])
    assert not m.partial and m.output_tokens == 150  # final message_delta: latest, not 250

    m, _ = run("openai", "responses", [sse(RESP_EVENTS)])
    assert m.partial and not m.has_usage and m.model == "o4-mini-2025-04-16"

    # array not closed, but the last element (finishReason) with the final usage arrived
    m, _ = run("google", "generate", [GEM_ARRAY[:-1]], sse=False)
    assert not m.partial and m.output_tokens == 200
    m, _ = run("google", "generate", [GEM_ARRAY[: GEM_ARRAY.index(b"finishReason")]], sse=False)
    assert m.partial and m.input_tokens == 500 and m.output_tokens == 0
    m, _ = run("google", "generate", [sse([(None, GEM_CHUNKS[0])])])
    assert m.partial and m.input_tokens == 500 and m.output_tokens == 0


def test_anthropic_cumulative_delta_with_new_cache_fields():
    tail = [("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                               "usage": {"output_tokens": 7, "cache_read_input_tokens": 12000}}),
            ("message_stop", {"type": "message_stop"})]
    m, _ = run("anthropic", "messages", [sse(ANTH_HEAD + tail)])
    assert (m.input_tokens, m.output_tokens, m.cache_read_tokens) == (25 + 2000 + 12000, 7, 12000)
    assert m.details["cache_write_1h_tokens"] == 500


def test_responses_incomplete_and_failed():
    for status in ("response.incomplete", "response.failed"):
        resp = {**dict(RESP_EVENTS[0][1]["response"]), "status": status.split(".")[1],
                "usage": {"input_tokens": 5, "output_tokens": 2}}
        m, _ = run("openai", "responses", [sse(RESP_EVENTS + [(status, {"type": status, "response": resp})])])
        assert (m.input_tokens, m.output_tokens, m.partial) == (5, 2, False)


def test_malformed_json_event_is_skipped():
    data = CHAT_STREAM.replace(b"data: [DONE]", b"data: {not json\n\ndata: [DONE]")
    data = b"data: {\"broken\n\n" + data
    m, out = run("openai", "chat", [data])
    assert m.input_tokens == 1200 and m.error.startswith("malformed JSON")
    assert out == data


def test_multiline_data_field_and_bom():
    obj = json.dumps(CHAT_USAGE_CHUNK, indent=1).split("\n")
    data = ("\ufeff" + "".join(f"data:{line}\n" for line in obj) + "\n").encode()
    m, _ = run("openai", "chat", [data])
    assert m.input_tokens == 1200 and m.error is None


def test_zero_copy_when_not_stripping():
    sm = StreamMeter("openai", "chat")
    for i in range(0, len(CHAT_STREAM), 50):
        piece = CHAT_STREAM[i : i + 50]
        assert sm.feed(piece) is piece
    end = b""
    assert sm.feed(end) is end


@settings(max_examples=300, deadline=None)
@given(
    api=st.sampled_from(["chat", "responses", "messages", "generate", "embeddings", "other"]),
    enc=st.sampled_from([None, "gzip", "br", "zstd", "deflate", "bogus"]),
    strip=st.booleans(),
    is_sse=st.booleans(),
    parts=st.lists(st.binary(max_size=300), max_size=8),
)
def test_never_raises_on_random_bytes(api, enc, strip, is_sse, parts):
    sm = StreamMeter("openai", api, content_encoding=enc, strip_usage_chunk=strip, sse=is_sse)
    for p in [*parts, b""]:
        out = sm.feed(p)
        assert isinstance(out, bytes)
        if not strip:
            assert out is p
    assert sm.result().has_usage in (True, False)


@settings(max_examples=200, deadline=None)
@given(prefix=st.binary(max_size=200), cut=st.integers(min_value=0, max_value=3000))
def test_random_garbage_then_valid_stream_still_passes_bytes(prefix, cut):
    data = prefix + b"\n\n" + CHAT_STREAM
    k = cut % (len(data) + 1)
    m, out = run("openai", "chat", [data[:k], data[k:]])
    assert out == data
