"""The stream callable: holds the stream back from finish_reason until the usage chunk
that was asked for, within a time and byte budget."""

import pytest

from aispendtrack.meter import StreamMeter
from aispendtrack.proxy import observer as observer_mod
from aispendtrack.proxy.observer import StreamObserver

from support.meter_samples import CHAT_STREAM

EVENTS = [e + b"\n\n" for e in CHAT_STREAM.split(b"\n\n") if e.strip()]
FINISH = next(i for i, e in enumerate(EVENTS) if b'"finish_reason": "' in e or b'"finish_reason":"' in e)


def run(expect_usage: bool, events=EVENTS):
    commits = []
    obs = StreamObserver(StreamMeter("openai", "chat"), lambda: commits.append(1), expect_usage=expect_usage)
    outs = [obs(e) for e in events]
    return obs, outs, commits


def sent(out) -> bytes:
    return out if isinstance(out, bytes) else b"".join(out)


def test_finish_reason_chunk_is_held_until_the_usage_chunk_when_usage_was_asked_for():
    assert 0 < FINISH < len(EVENTS) - 2
    obs, outs, commits = run(True)
    assert [sent(o) for o in outs[:FINISH]] == EVENTS[:FINISH]
    assert all(sent(o) == b"" for o in outs[FINISH:])  # from finish_reason on: nothing yet
    assert obs.meter.result().has_usage  # a client leaving now left after the usage was read
    tail = sent(obs(b""))
    assert tail == b"".join(EVENTS[FINISH:]) and commits == [1] and not obs.gave_up


def test_nothing_is_held_at_finish_reason_when_no_usage_was_asked_for():
    obs, outs, _ = run(False, EVENTS[: FINISH + 1])
    assert sent(outs[FINISH]) == EVENTS[FINISH]


def test_a_late_usage_chunk_releases_the_stream_after_the_budget(monkeypatch):
    obs, outs, _ = run(True, EVENTS[: FINISH + 1])
    assert sent(outs[FINISH]) == b""
    obs.since -= observer_mod.HOLD_SECONDS + 1  # the usage chunk is late
    out = sent(obs(b": keep-alive\n\n"))
    assert out == EVENTS[FINISH] + b": keep-alive\n\n" and obs.gave_up
    assert sent(obs(b": more\n\n")) == b": more\n\n"  # no more holding for it


def test_the_byte_budget_releases_the_stream(monkeypatch):
    monkeypatch.setattr(observer_mod, "HOLD_BYTES", len(EVENTS[FINISH]) + 5)
    obs, outs, _ = run(True, EVENTS[: FINISH + 1])
    assert sent(outs[FINISH]) == b""
    assert sent(obs(b": keep-alive\n\n")) == EVENTS[FINISH] + b": keep-alive\n\n" and obs.gave_up
