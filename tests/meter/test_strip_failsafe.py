"""Strip mode fails safe, parse budgets bound CPU, and the fast SSE / JSON-array parsers
agree with naive reference parsers."""

from __future__ import annotations

import gzip
import random
import re
import zlib

import pytest

from aispendtrack.meter import StreamMeter
from aispendtrack.meter import stream as stream_mod
from aispendtrack.meter.jsonscan import JSONScanner, ScanError
from aispendtrack.meter.sse import EventTooLarge, SSEParser
from support.meter_samples import ANTH_STREAM, CHAT_STREAM, CHAT_STREAM_STRIPPED, GEM_ARRAY, GEM_SSE, RESP_STREAM


def run(parts, *, enc=None, strip=True, api="chat", sse=True):
    sm = StreamMeter("openai", api, strip_usage_chunk=strip, content_encoding=enc, sse=sse)
    out = b"".join(bytes(sm.feed(p)) for p in parts if p) + bytes(sm.feed(b""))
    return out, sm.result()


def gz_parts(data: bytes, size: int = 97) -> list[bytes]:
    """gzip stream flushed every `size` decoded bytes, as an upstream would send it."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [c.compress(data[i:i + size]) + c.flush(zlib.Z_SYNC_FLUSH) for i in range(0, len(data), size)]
    return [*parts, c.flush()]


BIG = b"data: {" + b"x" * 5000 + b"}\n\n"


@pytest.fixture
def small_event(monkeypatch):
    monkeypatch.setattr(stream_mod, "MAX_EVENT", 1000)


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_identity_strip_oversized_event_loses_nothing_at_any_chunk_size(small_event, ending):
    data = (CHAT_STREAM + BIG + CHAT_STREAM).replace(b"\n", ending)
    expected = CHAT_STREAM_STRIPPED.replace(b"\n", ending) + (BIG + CHAT_STREAM).replace(b"\n", ending)
    for size in (1, 7, 64, 97, 1000, 4096, len(data)):
        out, m = run([data[i:i + size] for i in range(0, len(data), size)])
        assert out == expected, size
        assert "exceeds" in m.error and m.input_tokens == 1200


def test_gzip_strip_problem_before_any_output_falls_back_to_raw_bytes(small_event):
    data = BIG + CHAT_STREAM
    parts = gz_parts(data, 4096)
    out, m = run(parts, enc="gzip")
    assert out == b"".join(parts)  # byte for byte what upstream sent
    assert "exceeds" in m.error


def test_gzip_strip_problem_after_output_keeps_transcoding_the_whole_stream(small_event):
    data = CHAT_STREAM + BIG + CHAT_STREAM
    out, m = run(gz_parts(data), enc="gzip")
    assert gzip.decompress(out) == CHAT_STREAM_STRIPPED + BIG + CHAT_STREAM  # valid, complete
    assert "exceeds" in m.error and m.input_tokens == 1200


def test_gzip_strip_budget_spent_after_output_keeps_transcoding(monkeypatch):
    monkeypatch.setattr(stream_mod, "PARSE_BUDGET", len(CHAT_STREAM) + 97)  # pieces are <= 97 bytes
    data = CHAT_STREAM + CHAT_STREAM * 20
    out, m = run(gz_parts(data), enc="gzip")
    assert gzip.decompress(out) == CHAT_STREAM_STRIPPED + CHAT_STREAM * 20
    assert "budget" in m.error


def test_gzip_strip_corrupt_upstream_mid_stream_ends_client_stream_validly():
    parts = gz_parts(CHAT_STREAM * 3)
    k = len(parts) // 2
    bad = [*parts[:k], b"\xff" * 50 + parts[k], *parts[k + 1:]]
    out, m = run(bad, enc="gzip")
    decoded = gzip.decompress(out)  # a valid gzip stream, no raw bytes appended
    assert decoded and (CHAT_STREAM * 3).startswith(decoded[: len(CHAT_STREAM) // 2])
    assert "gzip decoding failed" in m.error and "ended early" in m.error


@pytest.mark.parametrize("enc", ["gzip", "deflate", "br", "zstd"])
def test_encoded_strip_corrupt_from_the_start_passes_raw_bytes(enc):
    parts = [b"\x1f\x8b\x08garbage", b"more garbage" * 10]
    out, m = run(parts, enc=enc)
    assert out == b"".join(parts) and m.error


def test_gzip_strip_unmodified_stream_comes_back_byte_exact():
    """Nothing was forwarded before the end and nothing was dropped: the raw bytes go out."""
    data = b"data: " + b"x" * 300  # no complete event until the end of the stream
    parts = gz_parts(data, 50)
    out, m = run(parts, enc="gzip")
    assert out == b"".join(parts)


@pytest.mark.parametrize("strip", [False, True])
def test_parse_budget_stops_parsing_and_passes_bytes(monkeypatch, strip):
    monkeypatch.setattr(stream_mod, "PARSE_BUDGET", 4096)
    data = CHAT_STREAM * 100
    out, m = run([data[i:i + 1000] for i in range(0, len(data), 1000)], strip=strip)
    assert "budget" in m.error
    if strip:  # the usage chunks of the parsed prefix are gone, nothing else
        assert any(out == CHAT_STREAM_STRIPPED * k + CHAT_STREAM * (100 - k) for k in range(1, 100))
    else:
        assert out == data


def test_item_budget_bounds_tiny_event_floods(monkeypatch):
    monkeypatch.setattr(stream_mod, "MAX_WORK", 10_000)
    data = b"data:[DONE]\n\n" * 100_000
    out, m = run([data[i:i + 65536] for i in range(0, len(data), 65536)], strip=False)
    assert out == data and "budget" in m.error


def test_ratio_budget_stops_parsing_a_decompression_bomb():
    unit = b'data: {"x": "' + b"y" * 1000 + b'"}\n\n'
    body = gzip.compress(unit * 40_000, 9)  # 40 MB decoded, ~100 KB wire
    assert len(body) * stream_mod.PARSE_RATIO < 40 * len(unit) * 1000
    out, m = run([body[i:i + 16384] for i in range(0, len(body), 16384)], enc="gzip", strip=False)
    assert out == body and "budget" in m.error


# -- differential: fast parsers vs naive references ----------------------------------------


def ref_sse(data: bytes) -> list[tuple[str | None, bytes]]:
    """WHATWG event stream parsing, line by line (data events only)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = re.split(rb"\r\n|\r|\n", data)
    complete = lines[:-1]  # the last piece has no terminator
    events, buf, name = [], [], None
    for line in complete:
        if not line:
            if buf:
                events.append((name.decode("utf-8", "replace") if name is not None else None, b"\n".join(buf)))
            buf, name = [], None
            continue
        if line[:1] == b":":
            continue
        field, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            buf.append(value)
        elif field == b"event":
            name = value
    return events


SPECIAL = [b"\r", b"\n", b"\r\n", b"\n\n", b"data", b"data:", b"event:", b"event", b": c\n", b"id: 1\n", b"\xef\xbb\xbf", b":"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(0, 6)):
        i = rng.randrange(len(b) + 1)
        op = rng.randrange(3)
        if op == 0:
            b[i:i] = rng.choice(SPECIAL)
        elif op == 1:
            del b[i:i + rng.randint(1, 8)]
        else:
            b[:] = b.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n"]))
    return bytes(b)


def test_sse_parser_matches_reference_at_random_splits():
    rng = random.Random(7)
    for _ in range(3000):
        data = mutate(rng, rng.choice([CHAT_STREAM, ANTH_STREAM, RESP_STREAM, GEM_SSE, b"\n\n:x\n\ndata: 1\n\n"]))
        if data.endswith(b"\r"):
            data += b"x"  # a final lone CR is ambiguous until the next byte (or the end)
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 10)))) if len(data) > 1 else []
        p = SSEParser(1 << 20)
        got = []
        for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
            for ev in p.feed(data[a:b]):
                assert 0 <= ev.start < ev.end <= b
                got.append((ev.name, ev.data))
        assert got == ref_sse(data), data


def test_sse_parser_reports_events_before_an_overflow():
    p = SSEParser(100)
    with pytest.raises(EventTooLarge) as e:
        p.feed(b"data: 1\n\ndata: " + b"x" * 200)
    assert [ev.data for ev in e.value.events] == [b"1"]


def ref_elements(data: bytes) -> list[bytes]:
    out, depth, in_str, esc, start, elem_depth = [], 0, False, False, None, 1
    for i, c in enumerate(data):
        ch = chr(c)
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            if depth == 0:
                elem_depth = 0 if ch == "{" else 1
            if depth == elem_depth and start is None:
                start = i
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth < 0:
                break
            if start is not None and depth == elem_depth:
                out.append(data[start:i + 1])
                start = None
    return out


def test_json_scanner_matches_reference_at_random_splits():
    rng = random.Random(11)
    tokens = [b"[", b"]", b"{", b"}", b'"', b"\\", b"\\\\", b'\\"', b",", b"1", b"[[[", b"]]]", b"{{", b"}}"]
    for _ in range(3000):
        data = bytearray(rng.choice([GEM_ARRAY, b'[{"a": "\\\\\\""}, {"b": [[1], {"c": "}"}]}]']))
        for _ in range(rng.randint(0, 5)):
            i = rng.randrange(len(data) + 1)
            data[i:i] = rng.choice(tokens)
        data = bytes(data)
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 10))))
        s = JSONScanner(1 << 20)
        got = []
        try:
            for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
                got += s.feed(data[a:b])
        except ScanError as e:
            got += e.elements
        assert got == ref_elements(data), data


def test_gzip_strip_drop_before_any_output_is_kept_at_the_end():
    """Only the usage chunk completed before the end: it is still stripped (re-encoded)."""
    usage = CHAT_STREAM.split(b"\n\n")[-3] + b"\n\n"
    assert b'"choices": []' in usage
    sm = StreamMeter("openai", "chat", strip_usage_chunk=True, content_encoding="gzip")
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = sm.feed(c.compress(usage + b"data: [DONE]") + c.flush(zlib.Z_SYNC_FLUSH))
    assert out == b""  # the usage chunk was dropped, [DONE] is not complete yet
    out += sm.feed(c.flush())
    out += sm.feed(b"")
    assert gzip.decompress(out) == b"data: [DONE]"


def test_unterminated_last_event_is_metered():
    data = CHAT_STREAM.rstrip(b"\n").rsplit(b"\n\n", 1)[0]  # ends in the usage chunk, no blank line
    out, m = run([data], strip=False)
    assert out == data and m.input_tokens == 1200 and m.error is None


def test_fuzz_encoded_strip_equals_identity_strip_or_raw():
    """Mutated chat streams in random gzip frames: the client gets either the raw bytes or a
    valid gzip stream whose content is exactly what identity strip mode forwards."""
    from support.fuzz import gzip_frames, mutate as fuzz_mutate, splits

    rng = random.Random(99)  # a fixed count, not a time budget: the same cases on any machine
    tried = 0
    for _ in range(150):
        data = fuzz_mutate(rng, rng.choice([CHAT_STREAM, CHAT_STREAM * 2]))
        frames = gzip_frames(data, splits(rng, data))
        if rng.random() < 0.2 and len(frames) > 1:  # corrupt one frame
            k = rng.randrange(len(frames))
            frames[k] = bytes(b ^ 0x5A for b in frames[k])
            out, _ = run(frames, enc="gzip")
            if out != b"".join(frames):
                d = zlib.decompressobj(31)
                d.decompress(out)  # a valid, finished gzip stream, no raw bytes after ours
                assert d.eof and not d.unused_data
        else:
            out, _ = run(frames, enc="gzip")
            expected, _ = run([data])
            assert out == b"".join(frames) or gzip.decompress(out) == expected
        tried += 1
    assert tried == 150


def test_work_ratio_bounds_a_bomb_of_tiny_events():
    import time

    body = gzip.compress(b"data:[DONE]\n\n" * 3_000_000, 9)  # 39 MB decoded, ~100 KB wire
    t = time.process_time()
    out, m = run([body[i:i + 65536] for i in range(0, len(body), 65536)], enc="gzip", strip=False)
    assert out == body and "budget" in m.error
    # CPU seconds, so other processes on the machine add none; generous: the budget
    # message above is the real check, parsing all 3M events would take far longer
    assert time.process_time() - t < 5.0
