import gzip
import json
import zlib

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from aispendtrack.meter import StreamMeter, inject_stream_usage, request_info
from support.meter_samples import CHAT_STREAM, CHAT_STREAM_STRIPPED, eol

DECODE = {
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
    "br": brotli.decompress,
    "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
}
ENCODE = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


def strip_run(parts, enc=None):
    sm = StreamMeter("openai", "chat", strip_usage_chunk=True, content_encoding=enc)
    outs = [sm.feed(p) for p in parts if p]
    outs.append(sm.feed(b""))
    return sm.result(), outs


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_strip_removes_exactly_the_usage_chunk_at_every_split(ending):
    data = eol(CHAT_STREAM, ending)
    expected = eol(CHAT_STREAM_STRIPPED, ending)
    for k in range(len(data) + 1):
        for j in (k, min(k + 3, len(data))):
            m, outs = strip_run([data[:k], data[k:j], data[j:]])
            assert b"".join(outs) == expected, (k, j)
            assert m.input_tokens == 1200 and m.output_tokens == 300 and not m.partial  # still metered


def test_strip_emits_complete_events_without_delay():
    events = [e + b"\n\n" for e in CHAT_STREAM.split(b"\n\n") if e]
    sm = StreamMeter("openai", "chat", strip_usage_chunk=True)
    sent = b""
    for i in range(len(CHAT_STREAM)):
        sent += sm.feed(CHAT_STREAM[i : i + 1])
        complete, end = [], 0
        for e in events:
            end += len(e)
            if end <= i + 1 and b'"choices": []' not in e:
                complete.append(e)
        assert sent == b"".join(e for e in complete), i


def test_strip_passes_other_chunks_zero_copy_when_aligned():
    events = [e + b"\n\n" for e in CHAT_STREAM.split(b"\n\n") if e]
    sm = StreamMeter("openai", "chat", strip_usage_chunk=True)
    outs = [sm.feed(e) for e in events]
    assert outs[0] is events[0]
    assert [o == e for o, e in zip(outs, events)] == [True] * 4 + [False, True]
    assert outs[4] == b""


@settings(max_examples=80, deadline=None)
@given(enc=st.sampled_from(sorted(ENCODE)), cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8))
def test_strip_transcodes_compressed_streams(enc, cuts):
    body = ENCODE[enc](CHAT_STREAM)
    points = sorted({c % (len(body) + 1) for c in cuts})
    parts = [body[a:b] for a, b in zip([0, *points], [*points, len(body)])]
    m, outs = strip_run(parts, enc)
    assert DECODE[enc](b"".join(outs)) == CHAT_STREAM_STRIPPED
    assert m.input_tokens == 1200


def test_strip_leaves_usage_on_chunk_with_choices_and_other_apis():
    data = CHAT_STREAM.replace(b'"choices": []', b'"choices": [{"index": 0, "delta": {}, "finish_reason": null}]')
    m, outs = strip_run([data])
    assert b"".join(outs) == data and m.input_tokens == 1200
    sm = StreamMeter("openai", "responses", strip_usage_chunk=True)
    assert sm.feed(data) is data


def test_strip_gives_up_cleanly_on_oversized_event(monkeypatch):
    from aispendtrack.meter import stream

    monkeypatch.setattr(stream, "MAX_EVENT", 1000)
    data = CHAT_STREAM + b"data: " + b"x" * 5000 + b"\n\n" + CHAT_STREAM
    m, outs = strip_run([data[i : i + 97] for i in range(0, len(data), 97)])
    out = b"".join(outs)
    assert out.startswith(CHAT_STREAM_STRIPPED) and out.endswith(CHAT_STREAM)  # nothing lost after giving up
    assert "exceeds" in m.error and m.input_tokens == 1200


# --- request side ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,expected",
    [
        (b'{"model": "gpt-4o", "stream": true}', ("gpt-4o", True, None, None)),
        (b'{"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true}}', ("gpt-4o", True, True, None)),
        (b'{"model": "gpt-4o", "stream_options": {"include_usage": false}}', ("gpt-4o", False, False, None)),
        (b'{"contents": []}', (None, False, None, None)),
        (b"", (None, False, None, "empty body")),
        (b"[1]", (None, False, None, "request body is not a JSON object")),
        (b"{bad", (None, False, None, "request body is not a JSON object")),
    ],
)
def test_request_info(body, expected):
    r = request_info("chat", body)
    assert (r.model, r.stream, r.include_usage, r.error) == expected


def test_inject_stream_usage():
    body = b'{"model":"gpt-4o","temperature":0.7,"stream":true,"messages":[{"role":"user","content":"h\\u00e9"}]}'
    out = inject_stream_usage(body)
    assert out == b'{"stream_options":{"include_usage":true},' + body[1:]  # rest byte for byte
    assert json.loads(out)["stream_options"] == {"include_usage": True}
    assert request_info("chat", out).include_usage is True
    assert inject_stream_usage(out) is None  # already set
    assert inject_stream_usage(b'{"model":"gpt-4o","stream":false}') is None
    assert inject_stream_usage(b'{"model":"gpt-4o"}') is None
    assert inject_stream_usage(b"[]") is None
    assert inject_stream_usage(b"not json") is None
    assert inject_stream_usage(b'{"stream":true,"stream_options":"x"}') is None
    merged = inject_stream_usage(b'{"stream":true,"stream_options":{"include_obfuscation":false,"include_usage":false}}')
    assert json.loads(merged)["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert json.loads(inject_stream_usage(b' {"stream":true,"stream_options":null}'))["stream_options"] == {
        "include_usage": True
    }
