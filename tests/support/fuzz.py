"""Bounded mutation of wire samples: byte flips, truncations, structural tokens, random
splits and gzip frames, for the parsers' fuzz tests."""

from __future__ import annotations

import random
import zlib

SPECIAL = [b"\r", b"\n", b"\r\n", b"\n\n", b"data:", b"data: [DONE]\n\n", b"{", b"}", b"[", b"]", b'"', b"\\",
           b"\xef\xbb\xbf", b"\xff", b"\x00", b":", b"event: message_delta\n", b'"usage":{', b"\xe2\x82"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if not b:
            b += rng.choice(SPECIAL)
            continue
        i = rng.randrange(len(b))
        if op == 0:  # bit flip
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # random byte
            b[i] = rng.randrange(256)
        elif op == 2:  # truncate
            del b[i:]
        elif op == 3:  # delete a span
            del b[i:i + rng.randint(1, 64)]
        elif op == 4:  # insert a structural token
            b[i:i] = rng.choice(SPECIAL)
        elif op == 5:  # duplicate a span
            j = min(len(b), i + rng.randint(1, 200))
            b[j:j] = b[i:j]
        else:  # line endings
            b[:] = b.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\n", b"\n"]))
    return bytes(b)


def splits(rng: random.Random, data: bytes) -> list[bytes]:
    mode = rng.randrange(3)
    if mode == 0 or len(data) < 2:
        return [data]
    if mode == 1:  # one byte at a time (bounded)
        return [data[i:i + 1] for i in range(len(data))] if len(data) < 3000 else [data]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 12))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def gzip_frames(data: bytes, parts: list[bytes]) -> list[bytes]:
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [comp.compress(p) + comp.flush(zlib.Z_SYNC_FLUSH) for p in parts]
    out.append(comp.flush())
    return [o for o in out if o]
