"""Tags a client puts on its calls (`x-aispendtrack-tags: feature=search, env=prod`, or one
`x-aispendtrack-tag-<name>: value` header per tag), to split spend by what a team cares
about. Pure: the proxy strips and checks them, the ledger keeps them, reports group by them.

Bounded so a client cannot bloat the ledger or smuggle anything into a report: at most
`MAX_TAGS` tags, names of lower-case letters, digits, `_ . -` (up to 64), values of up to
128 printable characters without `,` or `=` (the header's own separators)."""

from __future__ import annotations

import re
from collections.abc import Iterable

HEADER = "x-aispendtrack-tags"
PREFIX = "x-aispendtrack-tag-"
MAX_TAGS = 10
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
MAX_VALUE = 128


def parse_tags(headers: Iterable[tuple[str, str]]) -> tuple[dict[str, str] | None, str | None]:
    """`(tags, None)` from a request's headers (name, value pairs; names compared case-
    insensitively), `(None, None)` when there are none, `(None, why)` when they are bad."""
    tags: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        if name == HEADER:
            if why := _add_pairs(tags, value, HEADER):
                return None, why
        elif name.startswith(PREFIX):
            if why := _add(tags, name[len(PREFIX):], value.strip()):
                return None, why
    return (tags or None), None


def parse_tag_list(text: str, field: str = "tags") -> dict[str, str]:
    """A key's default tags as people write them (`keys create --tags env=ci,team=search`),
    by the header's rules. ValueError says why not, naming `field`."""
    tags: dict[str, str] = {}
    if why := _add_pairs(tags, text, field):
        raise ValueError(why)
    return tags


def check_tags(given: dict[str, str], field: str = "tags") -> dict[str, str]:
    """A mapping of tags (the API's `tags` object) by the header's rules; ValueError says why not."""
    tags: dict[str, str] = {}
    for name, value in given.items():
        if why := _add(tags, str(name).strip().lower(), str(value).strip()):
            raise ValueError(f"{field}: {why}")
    return tags


def merged(defaults: dict[str, str] | None, sent: dict[str, str] | None) -> dict[str, str] | None:
    """A call's tags: its key's defaults, then the request's headers, which win per tag name."""
    return {**(defaults or {}), **(sent or {})} or None


def _add_pairs(tags: dict[str, str], text: str, where: str) -> str | None:
    pairs = [p for p in text.split(",") if p.strip()]
    if not pairs:
        return f"{where} is empty: send name=value pairs separated by commas"
    for pair in pairs:
        tag, sep, value = pair.partition("=")
        if not sep:
            return f"{where}: {_shown(pair)!r} is not name=value"
        if why := _add(tags, tag.strip().lower(), value.strip()):
            return f"{where}: {why}" if where != HEADER else why
    return None


def _add(tags: dict[str, str], name: str, value: str) -> str | None:
    if not NAME_RE.fullmatch(name):
        return (f"tag name {_shown(name)!r} is not allowed: 1-64 lower-case letters, digits, '_', '.' or '-', "
                "starting with a letter or digit")
    if name in tags:
        return f"tag {name!r} is given twice"
    if not value or len(value) > MAX_VALUE or "=" in value or "," in value or not value.isprintable():
        return f"the value of tag {name!r} must be 1-{MAX_VALUE} printable characters, without ',' or '='"
    if len(tags) == MAX_TAGS:
        return f"at most {MAX_TAGS} tags per call"
    tags[name] = value
    return None


def _shown(text: str) -> str:
    """At most 40 printable characters of what the client sent, for the error message."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean[:40] + ("…" if len(clean) > 40 else "")
