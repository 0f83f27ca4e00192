"""Batch results files → tokens summed per model, line by line as they pass, byte for byte."""

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aispendtrack.meter.batch import BatchMeter, line_usage
from support import batch_samples as s


def meter(data: bytes, pieces=None, **kw) -> tuple[BatchMeter, bytes]:
    bm = BatchMeter(**kw)
    pieces = pieces if pieces is not None else [data]
    out = b"".join(bm.feed(p) for p in pieces) + bm.feed(b"")
    return bm, out


@pytest.mark.parametrize("line, expected", [
    (s.openai_line(1), ("gpt-4o-mini", 120, 30, 40, None, 5)),
    (s.openai_line(2, "text-embedding-3-small", kind="embeddings"), ("text-embedding-3-small", 8, None, None, None, None)),
    (s.openai_line(3, "o4-mini", kind="responses"), ("o4-mini", 50, 20, 10, None, 4)),
    (s.anthropic_line(4), ("claude-sonnet-4-6", 150, 40, 30, 20, None)),  # input = 100 + 20 written + 30 read
    (s.openai_error_line(5), None),
    ({"id": "batch_req_6", "custom_id": "r6", "response": None,
      "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}}, None),
    (s.anthropic_other(7, "errored"), None),
    (s.anthropic_other(8, "canceled"), None),
    (s.anthropic_other(9, "expired"), None),
    ({"custom_id": "in-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o"}}, None),  # an input file
    ([1, 2], None),
])
def test_each_line_shape(line, expected):
    found = line_usage(line)
    if expected is None:
        assert found is None
        return
    model, m = found
    assert (model, m.input_tokens, m.output_tokens, m.cache_read_tokens, m.cache_write_tokens, m.reasoning_tokens) \
        == expected


def test_an_openai_output_file_sums_per_model_and_counts_requests():
    lines = [s.openai_line(i) for i in range(3)] + [s.openai_line(9, "gpt-4o"), s.openai_error_line(10)]
    data = s.jsonl(lines)
    bm, out = meter(data)
    r = bm.result
    assert out == data and bm.ended
    mini, big = r.models["gpt-4o-mini"], r.models["gpt-4o"]
    assert (mini.requests, mini.metered.input_tokens, mini.metered.output_tokens) == (3, 360, 90)
    assert (mini.metered.cache_read_tokens, mini.metered.reasoning_tokens) == (120, 15)
    assert mini.metered.details["input_tokens"] == 360 and mini.metered.details["cache_read_tokens"] == 120
    assert (big.requests, big.metered.input_tokens) == (1, 120)
    assert (r.lines, r.unmetered, r.requests, r.error) == (5, 1, 4, None)


def test_anthropic_results_skip_errored_canceled_expired():
    lines = [s.anthropic_line(1), s.anthropic_other(2, "errored"), s.anthropic_line(3, "claude-haiku-4-5"),
             s.anthropic_other(4, "expired"), s.anthropic_line(5)]
    r = meter(s.jsonl(lines, final_newline=False))[0].result  # the last line has no line end
    sonnet = r.models["claude-sonnet-4-6"]
    assert (sonnet.requests, sonnet.metered.input_tokens, sonnet.metered.output_tokens) == (2, 300, 80)
    assert (sonnet.metered.cache_read_tokens, sonnet.metered.cache_write_tokens) == (60, 40)
    assert sonnet.metered.details["cache_write_5m_tokens"] == 40
    assert r.models["claude-haiku-4-5"].requests == 1 and (r.lines, r.unmetered) == (5, 2)


def test_gzip_results_are_decoded_for_metering_and_forwarded_as_they_came():
    data = s.jsonl([s.openai_line(i) for i in range(4)])
    wire = gzip.compress(data)
    bm, out = meter(wire, [wire[i:i + 7] for i in range(0, len(wire), 7)], content_encoding="gzip")
    assert out == wire and bm.result.models["gpt-4o-mini"].requests == 4


def test_garbage_and_oversized_lines_are_not_counted_and_say_so():
    data = b"{not json\n" + s.jsonl([s.openai_line(1)]) + b'{"x": "' + b"a" * 2000 + b'"}\n'
    r = meter(data, max_line=1000)[0].result
    assert r.models["gpt-4o-mini"].requests == 1 and (r.lines, r.unmetered) == (3, 2)
    assert r.error == "malformed JSON line in batch results"  # the first problem
    assert "over 1000 bytes" in meter(data[10:], max_line=1000)[0].result.error


def test_an_unended_download_is_not_ended():
    bm = BatchMeter()
    bm.feed(s.jsonl([s.openai_line(1)]))
    assert not bm.ended and bm.result.requests == 1


LINES = [s.openai_line(i, m) for i, m in enumerate(["gpt-4o-mini", "gpt-4o", "gpt-4o-mini"])] + \
    [s.openai_error_line(7), s.anthropic_line(8), s.openai_line(9, "text-embedding-3-small", kind="embeddings")]


@settings(max_examples=150, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(s.jsonl(LINES))), max_size=40),
       final_newline=st.booleans())
def test_any_chunk_boundaries_give_the_same_sums_and_the_same_bytes(cuts, final_newline):
    data = s.jsonl(LINES, final_newline=final_newline)
    points = sorted({0, len(data), *cuts})
    pieces = [data[a:b] for a, b in zip(points, points[1:])]
    bm, out = meter(data, pieces)
    whole = meter(data)[0].result
    assert out == data
    got = {k: (v.requests, v.metered.input_tokens, v.metered.output_tokens) for k, v in bm.result.models.items()}
    assert got == {k: (v.requests, v.metered.input_tokens, v.metered.output_tokens) for k, v in whole.models.items()}
    assert got["gpt-4o-mini"] == (2, 240, 60) and got["claude-sonnet-4-6"] == (1, 150, 40)
    assert (bm.result.lines, bm.result.unmetered) == (6, 1)
