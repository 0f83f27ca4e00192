"""A PostgreSQL URL as it may be shown: never its password."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit


def describe(dsn: str) -> str:
    """`postgresql://user@host:port/db?…` with any password replaced by `***`."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "postgresql://(unparseable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = "&".join("password=***" if q.lower().startswith("password=") else q for q in parts.query.split("&") if q)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def scrub(text: str, dsn: str) -> str:
    """`text` (an error message) with the URL's password taken out: libpq echoes a URL it
    cannot parse, password and all."""
    found = set(re.findall(r"^[a-z]+://[^/@?#]*?:([^/?#]*)@", dsn, re.I))  # even where urlsplit gives up
    found |= set(re.findall(r"[?&]password=([^&#]*)", dsn, re.I))
    for secret in sorted({p for f in found for p in (f, unquote(f))} - {""}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return " ".join(text.split())  # one line
