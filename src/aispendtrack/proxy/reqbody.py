"""A request's body as the data path reads it (model, stream flag, budget bound)."""

from __future__ import annotations

from mitmproxy import http

from aispendtrack.meter.decode import Decoder, DecodeError

MAX_REQUEST_BODY = 64 * 1024 * 1024  # decoded; enough for the largest multimodal requests


def request_body(req: http.Request) -> tuple[bytes, bool]:
    """(body for reading the model and stream flag, whether it was content-encoded).

    Decoded with a cap: mitmproxy's own decoding would inflate a request gzip bomb whole.
    """
    raw = req.raw_content or b""
    encoding = req.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return raw, False
    parts: list[bytes] = []
    try:
        Decoder(encoding, parts.append, MAX_REQUEST_BODY).feed(raw)
    except DecodeError:
        return b"", True
    return b"".join(parts), True
