"""The `x-aispendtrack-key` header: one well-formed key, or why it is refused."""

from __future__ import annotations

from aispendtrack.store.keytext import KEY_BODY, KEY_RE, PREFIX

HEADER = "x-aispendtrack-key"
MAX_HEADER_LEN = 256


def parse_header(values: list[str]) -> tuple[str | None, str | None]:
    """(key, None) for one well-formed key, else (None, why it is refused)."""
    if not values:
        return None, (
            f"missing {HEADER} header: send your AiSpendTrack key (ask_…) in the {HEADER} "
            "header, e.g. OpenAI(default_headers={'" + HEADER + "': key})"
        )
    if len(values) > 1:
        return None, f"{len(values)} {HEADER} headers: send exactly one"
    # Surrounding whitespace is not part of an HTTP field value (RFC 9110 §5.5).
    value = values[0].strip()
    if len(value) > MAX_HEADER_LEN:
        return None, f"{HEADER} header is {len(value)} characters long; an AiSpendTrack key has {len(PREFIX) + KEY_BODY}"
    if not value.startswith(PREFIX):
        return None, f"{HEADER} header does not start with {PREFIX!r}: is this a provider key instead of an AiSpendTrack key?"
    if not KEY_RE.fullmatch(value):
        return None, f"{HEADER} header is not {PREFIX!r} followed by {KEY_BODY} letters and digits"
    return value, None
