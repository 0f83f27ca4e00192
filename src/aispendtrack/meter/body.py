"""`meter_body`: usage of a whole (non-streamed, or fully buffered) response body."""

from __future__ import annotations

from aispendtrack.families import registry
from aispendtrack.meter.decode import Decoder, DecodeError
from aispendtrack.meter.state import Accumulator
from aispendtrack.meter.stream import StreamMeter, loads
from aispendtrack.meter.types import Metered

MAX_BODY = 64 * 1024 * 1024  # decoded; larger bodies are not parsed


def _decode(body: bytes, content_encoding: str | None) -> bytes:
    parts: list[bytes] = []
    d = Decoder(content_encoding, parts.append, MAX_BODY)
    d.feed(body)
    return b"".join(parts)


def _looks_like_sse(text: bytes) -> bool:
    return text.startswith((b"data:", b"event:", b":", b"id:", b"retry:"))


def meter_body(
    provider: str | None,
    api: str,
    body: bytes,
    *,
    content_encoding: str | None = None,
    request: dict | None = None,
) -> Metered:
    """Usage of a whole response body; never raises.

    Decodes `content_encoding` itself (pass None when mitmproxy already decoded). A buffered
    SSE body, NDJSON body (Ollama) or a Gemini JSON array is metered like the stream it was. `request` is
    accepted for callers' convenience; the model fallback stays with the caller.
    """
    try:
        try:
            raw = _decode(body, content_encoding) if content_encoding else body
        except DecodeError as e:
            return Metered(error=str(e)[:200])
        kind = registry.stream_kind(api)  # how the family frames a stream
        if kind == "eventstream" and not raw.lstrip().startswith(b"{"):
            sm = StreamMeter(provider, api, eventstream=True)  # a buffered Bedrock event stream
            sm.feed(raw)
            sm.feed(b"")
            return sm.result()
        text = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not text:
            return Metered(error="empty body")
        if _looks_like_sse(text) or (kind == "ndjson" and b"\n" in text.strip()):
            # a buffered stream: SSE, or Ollama's NDJSON sent with another content type
            sm = StreamMeter(provider, api, ndjson=kind == "ndjson")
            sm.feed(raw)
            sm.feed(b"")
            return sm.result()
        try:
            obj = loads(text)
        except ValueError as e:
            return Metered(error=f"malformed JSON body: {str(e)[:80]}")
        acc = Accumulator(provider, api)
        for item in obj if isinstance(obj, list) else [obj]:
            acc.feed(item)
        return acc.result(streamed=False)
    except Exception as e:  # a parser bug must not lose the call's record
        return Metered(error=f"internal error: {type(e).__name__}: {e}"[:200])
