"""Bounded mutation fuzzing of the usage parsers (`StreamMeter.feed`, `meter_body`).

Valid wire samples of every API are mutated (byte flips, truncations, insertions,
duplications, CR/LF games) and fed in random splits, for every provider id, identity and
gzip. Invariants: nothing raises; with strip off the bytes forwarded are the bytes fed;
`result()` always returns a `Metered`. The run is bounded by time (~6 s) and prints how
many inputs were tried.
"""

from __future__ import annotations

import json
import random
import time

import pytest

from aispendtrack.meter import Metered, StreamMeter, meter_body
from support.meter_samples import (
    ANTH_BODY,
    ANTH_STREAM,
    CHAT_BODY,
    CHAT_STREAM,
    CHAT_STREAM_NO_USAGE,
    GEM_ARRAY,
    GEM_BODY,
    GEM_SSE,
    RESP_BODY,
    RESP_STREAM,
)
from support import ollama_samples as ollama

from support.fuzz import gzip_frames, mutate, splits

PROVIDERS = ["openai", "anthropic", "google", "groq", "mistral", "openrouter", "deepseek", "x-ai", None]
APIS = ["chat", "responses", "embeddings", "completions", "messages", "generate", "ollama-chat", "ollama-generate",
        "ollama-embed", "other"]
# (api the sample belongs to, SSE: True, a JSON array: False, or "ndjson"; bytes)
STREAMS = [
    ("chat", True, CHAT_STREAM),
    ("chat", True, CHAT_STREAM_NO_USAGE),
    ("responses", True, RESP_STREAM),
    ("messages", True, ANTH_STREAM),
    ("generate", True, GEM_SSE),
    ("generate", False, GEM_ARRAY),
    ("ollama-chat", "ndjson", ollama.CHAT_STREAM),
    ("ollama-generate", "ndjson", ollama.GENERATE_STREAM),
]
BODIES = [json.dumps(b).encode() for b in (CHAT_BODY, RESP_BODY, ANTH_BODY, GEM_BODY, ollama.CHAT_BODY,
                                          ollama.EMBED_BODY)]


def run_stream(provider, api, sse, chunks, *, encoding=None, strip=False) -> tuple[bytes, Metered]:
    sm = StreamMeter(provider, api, content_encoding=encoding, strip_usage_chunk=strip, sse=sse is True,
                     ndjson=sse == "ndjson")
    out = []
    for c in chunks:
        r = sm.feed(c)
        assert isinstance(r, bytes | bytearray | memoryview), type(r)
        out.append(bytes(r))
    out.append(bytes(sm.feed(b"")))
    m = sm.result()
    assert isinstance(m, Metered)
    return b"".join(out), m


def test_mutation_fuzz_stream_meter_and_meter_body():
    rng = random.Random(20261126)  # a fixed count, not a time budget: the same cases on any machine
    tried = strip_tried = gz_tried = bodies = 0
    for _ in range(600):
        sample_api, sse, sample = rng.choice(STREAMS)
        data = mutate(rng, sample) if rng.random() < 0.9 else sample
        provider = rng.choice(PROVIDERS)
        api = sample_api if rng.random() < 0.7 else rng.choice(APIS)
        parts = splits(rng, data)
        if rng.random() < 0.2:
            frames = gzip_frames(data, parts)
            out, _ = run_stream(provider, api, sse, frames, encoding=rng.choice(["gzip", "x-gzip", "GZIP"]))
            assert out == b"".join(frames)
            gz_tried += 1
        else:
            out, _ = run_stream(provider, api, sse, parts, encoding=rng.choice([None, "identity", ""]))
            assert out == data, "strip off: forwarded bytes must equal input bytes"
        tried += 1
        if sse is True and api in ("chat", "completions") and rng.random() < 0.3:
            run_stream(provider, api, sse, parts, strip=True)  # may drop the usage chunk; must not raise
            strip_tried += 1
        body = mutate(rng, rng.choice(BODIES + [s for _, _, s in STREAMS])) if rng.random() < 0.9 else rng.choice(BODIES)
        m = meter_body(provider, api, body)
        assert isinstance(m, Metered)
        if rng.random() < 0.1:
            assert isinstance(meter_body(provider, api, body, content_encoding=rng.choice(["gzip", "br", "zstd", "deflate", "foo"])), Metered)
        bodies += 1
    print(f"\nfuzz: {tried} streams ({gz_tried} gzip), {strip_tried} strip-mode streams, {bodies} bodies")
    assert tried == bodies == 600 and gz_tried > 0 and strip_tried > 0


@pytest.mark.parametrize("sample_api, sse, sample", STREAMS, ids=[f"{a}-{'sse' if s is True else s or 'array'}-{i}" for i, (a, s, _) in enumerate(STREAMS)])
def test_every_provider_and_api_passes_bytes_through(sample_api, sse, sample):
    for provider in PROVIDERS:
        for api in APIS:
            out, m = run_stream(provider, api, sse, [sample[i:i + 7] for i in range(0, len(sample), 7)])
            assert out == sample
            assert isinstance(m, Metered)


def _time(provider, api, sse, data: bytes, chunk: int = 16384) -> float:
    """CPU seconds of this process metering `data`: other processes on the machine add none."""
    t = time.process_time()
    run_stream(provider, api, sse, [data[i:i + chunk] for i in range(0, len(data), chunk)])
    return time.process_time() - t


@pytest.mark.parametrize("sample_api, sse, sample", STREAMS[:1] + STREAMS[2:], ids=["chat", "responses", "messages", "gemini-sse", "gemini-array", "ollama-chat", "ollama-generate"])
def test_time_is_linear_in_stream_length(sample_api, sse, sample):
    small, big = sample * 50, sample * 800  # 16x the bytes
    _time("openai", sample_api, sse, small)  # warm up
    runs = [(_time("openai", sample_api, sse, small), _time("openai", sample_api, sse, big)) for _ in range(3)]
    t_small, t_big = min(s for s, _ in runs), min(b for _, b in runs)
    assert t_big < 16 * t_small * 3 + 0.05, (t_small, t_big)


@pytest.mark.parametrize("shape", [b"x" * 65536, b"data: " + b"y" * 65530, b'["' + b"z" * 65534])
def test_unterminated_event_or_element_is_cheap_and_bounded(shape):
    """A stream that never ends its line/element: bytes pass; an SSE line is kept as head
    and tail (sse.py), a JSON element gives up at MAX_EVENT."""
    sse = not shape.startswith(b"[")
    data = shape * 96  # 6 MB > MAX_EVENT (4 MB)
    t = time.process_time()
    out, m = run_stream("openai", "chat" if sse else "generate", sse, [shape] * 96)
    assert out == data
    assert not m.has_usage
    if not sse:
        assert m.error and "exceeds" in m.error
    assert time.process_time() - t < 5.0  # CPU seconds, generous: tens of ms here


# 1 MB of each; a real stream has lines of 100+ bytes and meters at tens of MB/s.
FLOODS = {
    "sse-blank-lines": (True, "chat", b"\n" * (1 << 20)),
    "sse-comment-lines": (True, "chat", b":\n" * (1 << 19)),
    "gemini-array-open-braces": (False, "generate", b"[" + b"{" * ((1 << 20) - 1)),
}


@pytest.mark.parametrize("name", FLOODS)
def test_tiny_token_flood_is_cheap(name):
    sse, api, data = FLOODS[name]
    t = _time("openai", api, sse, data, chunk=65536)
    assert t < 1.5, f"1 MB {name} took {t:.2f} s"  # tens of ms here; quadratic work would take minutes


def test_strip_mode_never_loses_bytes_of_an_oversized_event():
    data = b"data: {" + b"x" * (6 << 20)
    out, m = run_stream("openai", "chat", True, [data[i:i + 65536] for i in range(0, len(data), 65536)], strip=True)
    assert m.error and "exceeds" in m.error
    assert out == data, f"{len(data) - len(out)} bytes lost"


def test_an_endless_ndjson_line_is_cheap_and_bounded():
    """An NDJSON stream that never ends its line: bytes pass, the line is dropped past MAX_EVENT."""
    piece = b'{"model":"llama3.2","message":{"content":"' + b"z" * 65490
    t = time.process_time()
    out, m = run_stream("ollama", "ollama-chat", "ndjson", [piece] * 96)
    assert out == piece * 96 and not m.has_usage and "NDJSON line over" in m.error
    assert time.process_time() - t < 5.0
