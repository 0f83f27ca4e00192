"""Request-side helpers: what was asked for, and asking OpenAI-shaped APIs for stream usage."""

from __future__ import annotations

import json

from aispendtrack.families import registry
from aispendtrack.meter.types import RequestInfo


def _object(body: bytes) -> dict | None:
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def request_info(api: str, body: bytes) -> RequestInfo:
    """Model, stream flag and include_usage of a JSON request body; never raises.

    Gemini names the model and streaming in the URL, so both come back as None/False.
    """
    if not body or not body.strip():
        return RequestInfo(error="empty body")
    obj = _object(body)
    if obj is None:
        return RequestInfo(error="request body is not a JSON object")
    model = obj.get("model")
    include = None
    opts = obj.get("stream_options")
    if isinstance(opts, dict) and isinstance(opts.get("include_usage"), bool):
        include = opts["include_usage"]
    return RequestInfo(
        model=model if isinstance(model, str) and model else None,
        # Ollama streams unless the body says `"stream": false` (its family's `streams_by_default`)
        stream=obj.get("stream") is not False if registry.streams_by_default(api) else obj.get("stream") is True,
        include_usage=include,
    )


def inject_stream_usage(body: bytes) -> bytes | None:
    """Body with `stream_options.include_usage = true` added, or None if not applicable.

    Applies to streaming OpenAI chat / completions requests that did not set it to true
    (an explicit false is overridden too: metering needs it, and the proxy strips the
    extra chunk again). When `stream_options` is absent, the rest of the body is kept
    byte for byte.

    Only a plain UTF-8 body whose first non-whitespace byte is `{` is rewritten:
    `json.loads` also accepts a UTF-8 BOM and UTF-16/32, which neither the byte-level
    insertion nor a UTF-8 re-serialisation would keep valid for the upstream. Such a
    body is left alone (None): the stream is then metered only if the client asked for
    usage itself, else recorded as unmetered.
    """
    head = body.lstrip(b" \t\r\n")  # JSON whitespace only
    if not head.startswith(b"{"):
        return None  # BOM, UTF-16/32, or not an object
    try:
        # parsed as str: no BOM / UTF-16/32 sniffing (UTF-16 without BOM is valid UTF-8 with NULs)
        obj = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or obj is None or obj.get("stream") is not True:
        return None
    opts = obj.get("stream_options")
    if opts is None and "stream_options" not in obj:
        lead = body[: len(body) - len(head)]
        return lead + b'{"stream_options":{"include_usage":true},' + head[1:]
    if not isinstance(opts, dict) and opts is not None:
        return None
    if isinstance(opts, dict) and opts.get("include_usage") is True:
        return None
    obj["stream_options"] = {**(opts or {}), "include_usage": True}
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate escape ("\ud800"): keep it escaped
        return json.dumps(obj, separators=(",", ":")).encode()
