"""Realtime events: which messages are read, and usage mapped exactly as genai-prices'
own `realtime` extractor maps it (text, audio and image apart, cached parts too)."""

import json

import pytest
from genai_prices import extract_usage
from hypothesis import given, strategies as st

from aispendtrack.demo.fake.realtime import usage as fake_usage
from aispendtrack.demo.fake.wire_core import UsageSpec
from aispendtrack.meter import realtime as rt

DONE = frozenset({"response.done"})


def done(usage) -> bytes:
    return json.dumps({"type": "response.done", "event_id": "e1",
                       "response": {"id": "resp_1", "status": "completed", "usage": usage}}).encode()


@pytest.mark.parametrize("spec", [UsageSpec(), UsageSpec(input=7, output=0, cache_read=0),
                                  UsageSpec(input=100_000, output=4096, cache_read=65_536)])
def test_usage_maps_like_genai_prices_extractor(spec):
    u = fake_usage(spec)
    metered, status = rt.response_usage(rt.event(done(u), DONE))
    theirs = extract_usage({"response": {"usage": u}}, provider_id="openai", api_flavor="realtime").usage
    assert status == "completed" and metered.has_usage and not metered.invalid
    assert metered.details == theirs._reported_values()
    assert (metered.input_tokens, metered.output_tokens, metered.cache_read_tokens) == (
        spec.input, spec.output, spec.cache_read)


def test_no_usage_is_unknown_never_zero():
    metered, _ = rt.response_usage(rt.event(done(None), DONE))
    assert not metered.has_usage and metered.input_tokens is None


def test_garbage_counts_are_named_and_never_priced():
    metered, _ = rt.response_usage(rt.event(done({"input_tokens": -3, "output_tokens": "many"}), DONE))
    assert metered.has_usage and "input_tokens=-3" in metered.invalid and metered.input_tokens is None


@pytest.mark.parametrize("content, wanted, found", [
    (b'{"type":"response.done","response":{}}', DONE, "response.done"),
    (b'{"event_id":"x","type":"response.create"}', rt.CLIENT_TYPES, "response.create"),  # any key order
    (b'{"type": "response.create" }', rt.CLIENT_TYPES, "response.create"),
    (b'{"type":"input_audio_buffer.append","audio":"' + b"A" * 10_000 + b'"}', rt.CLIENT_TYPES, None),
    (b'{"type":"response.done"', DONE, None),  # cut
    (b'["response.done"]', DONE, None),
    (b"\xff\xfe", DONE, None),
    (b'{"type":"response.done","x":"' + b"A" * rt.MAX_EVENT + b'"}', DONE, None),  # over the cap
])
def test_event_reads_only_wanted_types(content, wanted, found):
    ev = rt.event(content, wanted)
    assert (ev.type if ev else None) == found


@given(st.binary(max_size=300))
def test_event_never_raises(content):
    rt.event(content, DONE | rt.CLIENT_TYPES)


def test_error_event_is_the_apis_shape():
    ev = json.loads(rt.error_event("no money left", "budget_exceeded", "evt_9"))
    assert ev["type"] == "error"
    assert ev["error"] == {"type": "invalid_request_error", "code": "budget_exceeded", "message": "no money left",
                           "param": None, "event_id": "evt_9"}
