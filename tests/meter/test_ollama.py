"""Ollama's native API: NDJSON streams and JSON bodies → tokens; the request's stream default."""

import gzip
import json

import pytest

from aispendtrack.meter import StreamMeter, meter_body, request_info
from aispendtrack.meter.ndjson import NDJSONParser
from support import ollama_samples as o


def stream(api: str, data: bytes, *, split: int | None = None, **kw) -> tuple[StreamMeter, bytes]:
    sm = StreamMeter("ollama", api, ndjson=True, **kw)
    pieces = [data[i:i + split] for i in range(0, len(data), split)] if split else [data]
    out = b"".join(sm.feed(p) for p in pieces) + sm.feed(b"")
    return sm, out


@pytest.mark.parametrize("split", [None, 1, 7, 64])
def test_chat_stream_counts_from_the_done_object_at_any_chunk_boundary(split):
    sm, out = stream("ollama-chat", o.CHAT_STREAM, split=split)
    m = sm.result()
    assert out == o.CHAT_STREAM  # byte for byte
    assert (m.model, m.input_tokens, m.output_tokens, m.cache_read_tokens) == ("llama3.2", 26, 282, None)
    assert m.has_usage and not m.partial and sm.terminal and m.error is None


def test_generate_stream_and_thinking_model():
    m = stream("ollama-generate", o.GENERATE_STREAM)[0].result()
    assert (m.input_tokens, m.output_tokens, m.partial) == (26, 259, False)
    m = stream("ollama-chat", o.THINKING_STREAM)[0].result()
    assert (m.model, m.input_tokens, m.output_tokens, m.reasoning_tokens) == ("qwen3:8b", 18, 97, None)


def test_missing_prompt_eval_count_is_unknown_never_zero():
    m = stream("ollama-chat", o.CHAT_STREAM_CACHED_PROMPT)[0].result()
    assert m.input_tokens is None and "input_tokens" not in m.details
    assert m.output_tokens == 282 and m.has_usage and not m.partial


def test_prompt_eval_cached_count_is_the_cached_part():
    m = meter_body("ollama", "ollama-chat", json.dumps(o.CHAT_DONE_WITH_CACHED).encode())
    assert (m.input_tokens, m.cache_read_tokens, m.output_tokens) == (1200, 1024, 300)


@pytest.mark.parametrize("api, body, expected", [
    ("ollama-chat", o.CHAT_BODY, ("llama3.2", 26, 282)),
    ("ollama-generate", o.GENERATE_BODY, ("llama3.2", 26, 259)),
    ("ollama-embed", o.EMBED_BODY, ("all-minilm", 8, None)),
])
def test_non_streamed_bodies(api, body, expected):
    m = meter_body("ollama", api, json.dumps(body).encode())
    assert (m.model, m.input_tokens, m.output_tokens) == expected
    assert m.has_usage and not m.partial


def test_legacy_embeddings_carry_no_counts_so_the_call_is_unmetered():
    m = meter_body("ollama", "ollama-embeddings", json.dumps(o.LEGACY_EMBEDDINGS_BODY).encode())
    assert not m.has_usage and m.input_tokens is None


def test_a_buffered_ndjson_body_is_metered_like_the_stream():
    m = meter_body("ollama", "ollama-chat", o.CHAT_STREAM)
    assert (m.input_tokens, m.output_tokens, m.partial) == (26, 282, False)


def test_gzip_stream():
    data = gzip.compress(o.GENERATE_STREAM)
    sm, out = stream("ollama-generate", data, split=5, content_encoding="gzip")
    assert out == data and sm.result().output_tokens == 259


def test_a_stream_cut_before_done_or_ending_in_an_error_has_no_usage():
    cut = o.CHAT_STREAM[: o.CHAT_STREAM.index(b'"done":true') - 40]
    for data in (cut, o.CHAT_ERROR_MID_STREAM):
        m = stream("ollama-chat", data)[0].result()
        assert not m.has_usage and m.partial and m.input_tokens is None


def test_last_line_without_newline_is_metered():
    m = stream("ollama-chat", o.CHAT_STREAM.rstrip(b"\n"))[0].result()
    assert (m.input_tokens, m.output_tokens) == (26, 282)


def test_garbage_counts_are_stored_unknown_and_said():
    bad = o.ndjson([*o.CHAT_PIECES, o.chat_done(prompt_eval_count=-3, eval_count="12")])
    m = stream("ollama-chat", bad)[0].result()
    assert m.input_tokens is None and m.output_tokens is None and "prompt_eval_count=-3" in m.invalid


def test_an_oversized_line_is_skipped_with_flat_memory_and_forwarded():
    big = o.chat_piece("x" * 300_000)
    data = o.ndjson([big, o.CHAT_DONE])
    sm, out = stream("ollama-chat", data, split=4096, max_event=65536)
    m = sm.result()
    assert out == data and (m.input_tokens, m.output_tokens) == (26, 282)
    assert "NDJSON line over 65536 bytes skipped" in m.error


def test_unknown_api_recognises_ollama_objects():
    m = stream("other", o.CHAT_STREAM)[0].result()
    assert (m.input_tokens, m.output_tokens) == (26, 282)


@pytest.mark.parametrize("api, body, streamed", [
    ("ollama-chat", {"model": "llama3.2"}, True),  # Ollama streams unless told not to
    ("ollama-chat", {"model": "llama3.2", "stream": None}, True),
    ("ollama-chat", {"model": "llama3.2", "stream": False}, False),
    ("ollama-generate", {"model": "llama3.2", "prompt": "hi"}, True),
    ("ollama-embed", {"model": "all-minilm", "input": "hi"}, False),
    ("chat", {"model": "gpt-4o"}, False),  # OpenAI does not
])
def test_request_stream_default(api, body, streamed):
    info = request_info(api, json.dumps(body).encode())
    assert info.stream is streamed and info.model == body["model"]


def test_ndjson_parser_framing():
    p = NDJSONParser(16)
    assert p.feed(b'{"a":1}\n\n  \n{"b"') == [b'{"a":1}']
    assert p.feed(b':2}\r\n' + b"y" * 40 + b"\n{}") == [b'{"b":2}\r']
    assert (p.too_long, p.dropped) == (1, 40)
    assert p.finish() == b"{}" and p.items == 3
