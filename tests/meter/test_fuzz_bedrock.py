"""Bounded mutation fuzzing of Bedrock's event streams through `StreamMeter`.

The fake provider's ConverseStream and InvokeModelWithResponseStream frames are mutated
(byte flips, truncations, insertions, duplications) and fed in random splits. Invariants:
nothing raises; the bytes forwarded are the bytes fed; and a count the meter reports is
the true one — a damaged stream is unmetered or metered from intact frames, never guessed.
"""

from __future__ import annotations

import random
import time

import pytest

from aispendtrack.demo.fake.wire import build
from aispendtrack.demo.fake.wire_core import Call, UsageSpec
from aispendtrack.meter import StreamMeter
from aispendtrack.meter.eventstream import encode_message
from support.fuzz import mutate, splits

U = UsageSpec()
TRUE = {"input_tokens": U.input, "output_tokens": U.output, "cache_read_tokens": U.cache_read,
        "cache_write_tokens": U.cache_write}
BODY = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}
SAMPLES = {api: b"".join(build(Call("aws", api, BODY, ["a", "bc", "def"], U, "fake-000001-0123456789ab",
                                    path_model="us.anthropic.claude-3-5-sonnet-20241022-v2:0")).frames)
           for api in ("bedrock-converse-stream", "bedrock-invoke-stream")}


def run(api: str, chunks: list[bytes]):
    sm = StreamMeter("aws", api, eventstream=True)
    out = b"".join(bytes(sm.feed(c)) for c in chunks if c) + bytes(sm.feed(b""))  # b"" is the end
    return out, sm.result()


def test_mutated_streams_are_forwarded_and_never_guessed():
    rng = random.Random(20261208)
    metered = unmetered = 0
    for _ in range(400):
        api = rng.choice(list(SAMPLES))
        data = mutate(rng, SAMPLES[api])
        out, m = run(api, splits(rng, data))
        assert out == data
        for field, true in TRUE.items():
            assert getattr(m, field) in (None, true), (field, getattr(m, field), m.error)
        metered += m.has_usage
        unmetered += not m.has_usage
    assert metered and unmetered  # both kinds were met


@pytest.mark.parametrize("api", list(SAMPLES))
def test_split_at_every_position(api):
    data = SAMPLES[api]
    for cut in range(len(data) + 1):
        out, m = run(api, [data[:cut], data[cut:]])
        assert out == data and {f: getattr(m, f) for f in TRUE} == TRUE and m.error is None, cut


def test_a_flood_of_empty_frames_is_cheap():
    frame = encode_message({}, b"")  # 16 bytes: the smallest frame
    data = frame * 65536  # 1 MB
    t = time.process_time()
    out, m = run("bedrock-converse-stream", [data[i:i + 65536] for i in range(0, len(data), 65536)])
    assert out == data and not m.has_usage
    assert time.process_time() - t < 3.0  # CPU seconds, generous: a fraction of that here
