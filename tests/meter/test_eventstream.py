"""The event-stream frame parser: AWS's framing, checked against botocore's own decoder."""

from __future__ import annotations

import struct
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings, strategies as st

from aispendtrack.meter.eventstream import EventStreamParser, FrameError, encode_message, parse_headers

EVENT = {":event-type": "metadata", ":content-type": "application/json", ":message-type": "event"}


def frames() -> bytes:
    return b"".join([
        encode_message({**EVENT, ":event-type": "messageStart"}, b'{"role":"assistant","p":"abcd"}'),
        encode_message({**EVENT, ":event-type": "contentBlockDelta"}, b'{"contentBlockIndex":0,"delta":{"text":"Hi"}}'),
        encode_message({**EVENT, ":event-type": "messageStop"}, b'{"stopReason":"end_turn"}'),
        encode_message(EVENT, b'{"usage":{"inputTokens":7,"outputTokens":3,"totalTokens":10}}'),
    ])


def test_our_frames_are_what_botocore_decodes():
    buf = EventStreamBuffer()
    buf.add_data(frames())
    theirs = [(m.headers, m.payload) for m in buf]
    ours = [(m.headers, m.payload) for m in EventStreamParser().feed(frames())]
    assert ours == theirs
    assert [h[":event-type"] for h, _ in ours] == ["messageStart", "contentBlockDelta", "messageStop", "metadata"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(frames())), max_size=12))
def test_any_chunking_gives_the_same_messages(cuts):
    data = frames()
    whole = EventStreamParser().feed(data)
    parser, got, prev = EventStreamParser(), [], 0
    for cut in sorted(cuts) + [len(data)]:
        got += parser.feed(data[prev:cut])
        prev = cut
    parser.finish()
    assert got == whole and parser.items == 4


def test_split_at_every_position():
    data = frames()
    whole = EventStreamParser().feed(data)
    for cut in range(len(data) + 1):
        parser = EventStreamParser()
        assert parser.feed(data[:cut]) + parser.feed(data[cut:]) == whole, cut
    parser = EventStreamParser()  # one byte at a time
    assert [m for i in range(len(data)) for m in parser.feed(data[i:i + 1])] == whole


@pytest.mark.parametrize("where,msg", [(2, "prelude CRC"), (9, "prelude CRC"), (20, "message CRC"), (-1, "message CRC")])
def test_a_flipped_bit_is_refused_for_good(where, msg):
    data = bytearray(frames())
    data[where] ^= 0x01
    parser = EventStreamParser()
    with pytest.raises(FrameError, match=msg):
        parser.feed(bytes(data))
    with pytest.raises(FrameError):
        parser.feed(b"")  # no resynchronising on a guess
    with pytest.raises(FrameError):
        parser.finish()


def test_messages_before_a_bad_frame_are_kept():
    good = encode_message(EVENT, b"{}")
    bad = bytearray(encode_message(EVENT, b'{"x":1}'))
    bad[-1] ^= 0xFF
    with pytest.raises(FrameError) as e:
        EventStreamParser().feed(good + bytes(bad))
    assert [m.payload for m in e.value.messages] == [b"{}"]


def test_truncated_stream_fails_at_the_end():
    data = frames()
    parser = EventStreamParser()
    assert len(parser.feed(data[:-5])) == 3
    with pytest.raises(FrameError, match="truncated"):
        parser.finish()


def test_impossible_lengths():
    prelude = struct.pack(">II", 8, 0)  # shorter than the smallest frame
    with pytest.raises(FrameError, match="impossible"):
        EventStreamParser().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))
    prelude = struct.pack(">II", 100, 200)  # headers longer than the frame
    with pytest.raises(FrameError, match="impossible"):
        EventStreamParser().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))
    prelude = struct.pack(">II", 1 << 31, 0)  # a 2 GB frame is never buffered
    with pytest.raises(FrameError, match="impossible"):
        EventStreamParser().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_every_header_type():
    data = (b"\x01t\x00" + b"\x01f\x01" + b"\x01b\x02\xff" + b"\x01s\x03\x00\x02" + b"\x01i\x04\x00\x00\x00\x03"
            + b"\x01l\x05" + struct.pack(">q", 4) + b"\x01y\x06\x00\x02ab" + b"\x01z\x07\x00\x02cd"
            + b"\x02ts\x08" + struct.pack(">q", 5) + b"\x01u\x09" + bytes(range(16)))
    assert parse_headers(data) == {"t": True, "f": False, "b": -1, "s": 2, "i": 3, "l": 4, "y": b"ab", "z": "cd",
                                   "ts": 5, "u": bytes(range(16))}
    for broken in (b"\x01a\x0a", b"\x01a\x07\x00\x09ab", b"\x05ab", b"\x01a\x05\x00"):
        with pytest.raises(FrameError):
            parse_headers(broken)
