"""A PostgreSQL URL as it may be shown: never its password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


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
