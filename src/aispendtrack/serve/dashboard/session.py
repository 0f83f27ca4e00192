"""Who is looking at the dashboard: the session cookie, re-checked against the key store on
every request (a revoked or narrowed key ends its sessions at once), and the cross-site
guards for POSTs (same Origin, and the session's CSRF token)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request

from aispendtrack.auth.records import KeyRecord, lookup_digest
from aispendtrack.config import Config
from aispendtrack.store import sessions
from aispendtrack.store.base import SqlStore
from aispendtrack.store.records import Session

COOKIE = "aispendtrack_session"
MAX_FORM_BYTES = 16_384
NEEDED = "dashboard"


@dataclass(frozen=True)
class Viewer:
    session: Session
    record: KeyRecord

    @property
    def csrf(self) -> str:
        return sessions.csrf_token(self.session.id)

    def can(self, permission: str) -> bool:
        return permission in self.record.permissions


def viewer(request: Request, store: SqlStore, cfg: Config) -> Viewer | None:
    """The logged-in viewer, or None (no session, expired, or its key may no longer see the dashboard)."""
    session = store.lookup_session(request.cookies.get(COOKIE))
    if session is None:
        return None
    verdict = lookup_digest(store, cfg, session.key_digest)
    if verdict.reason is not None or NEEDED not in verdict.record.permissions:
        store.end_session(session.id)
        return None
    return Viewer(session, verdict.record)


def same_origin(request: Request) -> bool:
    """The POST comes from a page of this server: its Origin (else Referer) names this host."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent or sent == "null":
        return False
    parts = urlsplit(sent)
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.headers.get("host", ""))


async def form(request: Request) -> dict[str, list[str]] | None:
    """An urlencoded form body (field → values), or None when it is not one or too large."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    out: dict[str, list[str]] = {}
    try:
        for name, value in parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=64):
            out.setdefault(name, []).append(value)
    except (UnicodeDecodeError, ValueError):
        return None
    return out


def first(fields: dict[str, list[str]], name: str) -> str:
    return (fields.get(name) or [""])[0]


def set_cookie(response, request: Request, session: Session, hours: int) -> None:
    response.set_cookie(COOKIE, session.id, max_age=hours * 3600, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")


def clear_cookie(response) -> None:
    response.delete_cookie(COOKIE, httponly=True, samesite="strict", path="/")
