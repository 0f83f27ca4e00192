"""meter/cut.py: the small object `summary()` builds from an SSE event kept as head + tail.

Exact objects for every provider shape, then the search rules one by one (escaped keys,
non-object and truncated usage, first model, the `type` found in the head only, the
string bounds, broken UTF-8), then a property: a stream whose usage event is cut is
metered exactly like the same stream kept whole.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aispendtrack.meter import StreamMeter, cut
from support.meter_samples import (
    ANTH_HEAD,
    ANTH_START_USAGE,
    ANTH_TAIL,
    CHAT_CHUNKS,
    CHAT_USAGE,
    GEM_CHUNKS,
    GEM_USAGE,
    RESP_BODY,
    RESP_EVENTS,
    RESP_USAGE,
    _ANTH_MSG,
    _chunk,
    sse,
)


def summarize(name, head: bytes, tail: bytes):
    """summary() of an event cut like sse.py cuts it: its head, a newline, its tail."""
    return cut.summary(name, head + b"\n" + tail, len(head))


CHAT_HEAD = b'{"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"ab'
RESP_HEAD = b'{"type":"%s","sequence_number":9,"response":{"id":"r1","model":"gpt-4.1","output":[{"text":"ab'
ANTH_HEAD_START = b'{"type":"message_start","message":{"id":"m1","model":"claude-sonnet-4-5","content":[{"text":"ab'
GEM_HEAD = b'{"candidates":[{"content":{"parts":[{"text":"ab'
U_CHAT = {"prompt_tokens": 7, "completion_tokens": 9}
U_RESP = {"input_tokens": 7, "output_tokens": 9, "cost": Decimal("0.25")}
U_ANTH = {"input_tokens": 12, "output_tokens": 1}
U_GEM = {"promptTokenCount": 7, "candidatesTokenCount": 9}

SHAPES = {
    # OpenAI chat: the last chunk, usage after its choices
    "chat": (None, CHAT_HEAD, b'cd"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":9}}',
             {"model": "gpt-4o", "usage": U_CHAT, "choices": [{"finish_reason": "stop"}]}),
    "chat, any finish reason": (None, CHAT_HEAD, b'cd"},"finish_reason":"length"}],"usage":{"prompt_tokens":7,'
                                                 b'"completion_tokens":9}}',
                                {"model": "gpt-4o", "usage": U_CHAT, "choices": [{"finish_reason": "stop"}]}),
    "chat, choices not finished": (None, CHAT_HEAD, b'cd"},"finish_reason":null}],"usage":{"prompt_tokens":7,'
                                                    b'"completion_tokens":9}}',
                                   {"model": "gpt-4o", "usage": U_CHAT, "choices": None}),
    "chat, no usage": (None, CHAT_HEAD, b'cd"},"finish_reason":"stop"}]}', {"model": "gpt-4o"}),
    "chat, no model": (None, b'{"id":"c1","choices":[{"delta":{"content":"ab',
                       b'cd"}}],"usage":{"prompt_tokens":7,"completion_tokens":9}}',
                       {"model": None, "usage": U_CHAT, "choices": None}),
    "chat, usage empty": (None, CHAT_HEAD, b'cd"}}],"usage":{}}', {"model": "gpt-4o"}),
    # OpenAI responses: the type from the event name or else from the head
    "response.completed": ("response.completed", RESP_HEAD % b"response.completed",
                           b'cd"}],"usage":{"input_tokens":7,"output_tokens":9,"cost":0.25}}}',
                           {"type": "response.completed", "response": {"model": "gpt-4.1", "usage": U_RESP}}),
    "response.completed, unnamed": (None, RESP_HEAD % b"response.completed",
                                    b'cd"}],"usage":{"input_tokens":7,"output_tokens":9,"cost":0.25}}}',
                                    {"type": "response.completed", "response": {"model": "gpt-4.1", "usage": U_RESP}}),
    "response.incomplete": ("response.incomplete", RESP_HEAD % b"response.incomplete",
                            b'cd"}],"incomplete_details":{"reason":"max_output_tokens"},'
                            b'"usage":{"input_tokens":7,"output_tokens":9,"cost":0.25}}}',
                            {"type": "response.incomplete", "response": {"model": "gpt-4.1", "usage": U_RESP}}),
    "response.created, no usage": ("response.created", RESP_HEAD % b"response.created", b'cd"}],"usage":null}}',
                                   {"type": "response.created", "response": {"model": "gpt-4.1"}}),
    # Anthropic
    "message_start": ("message_start", ANTH_HEAD_START, b'cd"}],"usage":{"input_tokens":12,"output_tokens":1}}}',
                      {"type": "message_start", "message": {"model": "claude-sonnet-4-5", "usage": U_ANTH}}),
    "message_start, unnamed": (None, ANTH_HEAD_START, b'cd"}],"usage":{"input_tokens":12,"output_tokens":1}}}',
                               {"type": "message_start", "message": {"model": "claude-sonnet-4-5", "usage": U_ANTH}}),
    "message_start, no usage": ("message_start", ANTH_HEAD_START, b'cd"}]}}',
                                {"type": "message_start", "message": {"model": "claude-sonnet-4-5"}}),
    "message_delta": ("message_delta", b'{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":"ab',
                      b'cd"},"usage":{"output_tokens":9}}',
                      {"type": "message_delta", "model": None, "usage": {"output_tokens": 9}}),
    "message_delta, no usage": ("message_delta", b'{"type":"message_delta","model":"claude-x","delta":{"text":"ab',
                                b'cd"}}', {"type": "message_delta", "model": "claude-x"}),
    # Gemini: usageMetadata decides the shape, whatever the type
    "gemini": (None, GEM_HEAD, b'cd"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":7,'
                               b'"candidatesTokenCount":9},"modelVersion":"gemini-2.5-flash"}',
               {"usageMetadata": U_GEM, "modelVersion": "gemini-2.5-flash", "candidates": [{"finishReason": "STOP"}]}),
    "gemini, any finish reason": (None, GEM_HEAD, b'cd"}]},"finishReason":"MAX_TOKENS"}],"usageMetadata":'
                                  b'{"promptTokenCount":7,"candidatesTokenCount":9},"modelVersion":"gemini-2.5-flash"}',
                                  {"usageMetadata": U_GEM, "modelVersion": "gemini-2.5-flash",
                                   "candidates": [{"finishReason": "STOP"}]}),
    "gemini, not finished": (None, GEM_HEAD, b'cd"}]}}],"usageMetadata":{"promptTokenCount":7,'
                                             b'"candidatesTokenCount":9},"modelVersion":"gemini-2.5-flash"}',
                             {"usageMetadata": U_GEM, "modelVersion": "gemini-2.5-flash", "candidates": []}),
    "gemini, no model": ("message_delta", GEM_HEAD, b'cd"}]},"finishReason":"STOP"}],"usageMetadata":'
                                                    b'{"promptTokenCount":7,"candidatesTokenCount":9}}',
                         {"usageMetadata": U_GEM, "modelVersion": None, "candidates": [{"finishReason": "STOP"}]}),
    "nothing to meter": ("response.output_text.done", b'{"type":"response.output_text.done","text":"ab',
                         b'cd"}', None),
}


@pytest.mark.parametrize("name, head, tail, expect", SHAPES.values(), ids=SHAPES.keys())
def test_summary_per_shape(name, head, tail, expect):
    assert summarize(name, head, tail) == expect


def test_a_key_escaped_inside_a_string_is_never_found():
    # the needle `"usage"` inside the key `"\"usage"`: its opening quote is escaped
    escaped = b'{"\\"usage":{"prompt_tokens":9},"\\"model":"fake"}'
    assert cut.summary(None, escaped, 0) is None
    data = b'{"model":"gpt-4o","usage":{"prompt_tokens":1},"x":{"\\"usage":{"prompt_tokens":9}}}'
    assert cut.summary(None, data, 0) == {"model": "gpt-4o", "usage": {"prompt_tokens": 1}, "choices": None}
    # an answer quoting JSON: `\"usage\"` is not the needle at all
    data = b'{"model":"gpt-4o","usage":{"prompt_tokens":1},"text":"say \\"usage\\": {\\"prompt_tokens\\": 9}"}'
    assert cut.summary(None, data, 0) == {"model": "gpt-4o", "usage": {"prompt_tokens": 1}, "choices": None}


@pytest.mark.parametrize("later", [b'"usage":null', b'"usage":[1]', b'"usage" : 5', b'"usage":{"prompt_tok'])
def test_the_last_usage_that_is_an_object_and_parses_counts(later):
    """A later usage that is not an object, or is cut off, gives way to an earlier one."""
    data = b'{"model":"m","usage":{"prompt_tokens":3},"more":{' + later
    assert cut.summary(None, data, 0) == {"model": "m", "usage": {"prompt_tokens": 3}, "choices": None}
    # the last complete one wins over an earlier one
    data = b'{"model":"m","usage":{"prompt_tokens":3},"more":{"usage":{"prompt_tokens":4}}}'
    assert cut.summary(None, data, 0) == {"model": "m", "usage": {"prompt_tokens": 4}, "choices": None}


def test_the_first_model_wins():
    data = b'{"model":null,"x":{"model":"gpt-4o"},"tool":{"model":"other"},"modelVersion":"gemini"}'
    assert cut.summary(None, data, 0) == {"model": "gpt-4o"}
    # modelVersion only when no "model" names one
    data = b'{"modelVersion":"gemini-a","candidates":[{"modelVersion":"gemini-b","model":7}]}'
    assert cut.summary(None, data, 0) == {"model": "gemini-a"}


def test_keys_at_the_very_start_of_the_data_are_found():
    assert cut.summary(None, b'"usage":{"prompt_tokens":5}', 0) == {
        "model": None, "usage": {"prompt_tokens": 5}, "choices": None}
    assert cut.summary(None, b'"model":"gpt-4o"', 0) == {"model": "gpt-4o"}
    data = b'"type":"response.completed","response":{"model":"gpt-4.1"}'
    assert cut.summary(None, data, 40) == {"type": "response.completed", "response": {"model": "gpt-4.1"}}


def test_the_type_is_read_from_the_head_only():
    head = b'{"id":"c1","model":"gpt-4o","choices":[{"delta":{"content":"ab'
    tail = b'cd"},"finish_reason":"stop","part":{"type":"message_delta"}}],"usage":{"prompt_tokens":7}}'
    assert summarize(None, head, tail) == {"model": "gpt-4o", "usage": {"prompt_tokens": 7},
                                          "choices": [{"finish_reason": "stop"}]}
    # a type that ends past `head` is not the event's
    data = b'{"type":"response.completed","response":{"model":"gpt-4.1"}}'
    assert cut.summary(None, data, 28) == {"type": "response.completed", "response": {"model": "gpt-4.1"}}
    assert cut.summary(None, data, 27) == {"model": "gpt-4.1"}
    # the event name, when there is one, wins over the type
    assert cut.summary("message_delta", data, 28) == {"type": "message_delta", "model": "gpt-4.1"}


def test_string_bounds():
    for n, model in ((200, "m" * 200), (201, None)):
        data = b'{"model":"' + b"m" * n + b'","usage":{"prompt_tokens":1}}'
        assert cut.summary(None, data, 0) == {"model": model, "usage": {"prompt_tokens": 1}, "choices": None}
    for n, kind in ((64, "message." + "t" * 56), (65, None)):
        data = b'{"type":"message.' + b"t" * (n - 8) + b'","model":"claude-x"}'
        expect = {"type": kind, "model": "claude-x"} if kind else {"model": "claude-x"}
        assert cut.summary(None, data, len(data)) == expect


def test_broken_utf8_is_replaced_never_raised():
    # the cut may split a character; a hostile upstream may send anything
    data = b'{"model":"gpt-\xff4o","usage":{"prompt_tokens":3,"note":"\xe2\x82"},"metadata":{"x":"\xff"}}'
    assert cut.summary(None, data, 0) == {"model": "gpt-\ufffd4o", "usage": {"prompt_tokens": 3, "note": "\ufffd"},
                                          "choices": None}


# --- property: a cut usage event is metered like the whole event ---------------------------

MAX_EVENT = 2048  # head 256 bytes, tail 512: every padded event below is cut


def _chat(pad: str, n: int) -> tuple[str, str, bytes]:
    last = {**_chunk({"content": pad}, "stop"), "usage": {**CHAT_USAGE, "completion_tokens": n}}
    return "openai", "chat", sse([(None, c) for c in CHAT_CHUNKS[:-1]] + [(None, last)], done=True)


def _responses(pad: str, n: int) -> tuple[str, str, bytes]:
    body = {**RESP_BODY, "output": [{"type": "message", "content": [{"type": "output_text", "text": pad}]}],
            "usage": {**RESP_USAGE, "output_tokens": n}}
    done = ("response.completed", {"type": "response.completed", "sequence_number": 6, "response": body})
    return "openai", "responses", sse(RESP_EVENTS + [done])


def _anthropic(pad: str, n: int) -> tuple[str, str, bytes]:
    msg = {**_ANTH_MSG, "content": [{"type": "text", "text": pad}], "usage": {**ANTH_START_USAGE, "input_tokens": n}}
    return "anthropic", "messages", sse([("message_start", {"type": "message_start", "message": msg}),
                                         *ANTH_HEAD[1:], *ANTH_TAIL])


def _gemini(pad: str, n: int) -> tuple[str, str, bytes]:
    last = {**GEM_CHUNKS[1], "usageMetadata": {**GEM_USAGE, "candidatesTokenCount": n}}
    last["candidates"] = [{**last["candidates"][0], "content": {"parts": [{"text": pad}], "role": "model"}}]
    return "google", "generate", sse([(None, GEM_CHUNKS[0]), (None, last)])


def _meter(provider, api, data, max_event=None):
    sm = StreamMeter(provider, api, max_event=max_event)
    for i in range(0, len(data), 4096):
        sm.feed(data[i : i + 4096])
    sm.feed(b"")
    return sm.result(), sm._sse.dropped


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([_chat, _responses, _anthropic, _gemini]), st.text(min_size=1, max_size=20),
       st.integers(0, 300), st.integers(0, 10**9))
def test_a_cut_event_is_metered_like_the_whole_event(build, word, extra, n):
    pad = word * (MAX_EVENT // len(word) + extra)  # any text: quotes, "usage", broken-up characters
    provider, api, data = build(pad, n)
    whole, dropped = _meter(provider, api, data)
    assert dropped == 0 and whole.has_usage and not whole.partial and whole.error is None
    m, dropped = _meter(provider, api, data, MAX_EVENT)
    assert dropped > 0
    assert m == whole
