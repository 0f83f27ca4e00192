"""Dashboard sessions: a random id lives only in the browser's cookie; the table keeps its
SHA-256 digest, the digest of the key secret that logged in, and when the session ends."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from aispendtrack.store.db import iso, utcnow

TABLE = "dashboard_sessions"


@dataclass(frozen=True)
class Session:
    id: str  # the cookie's value: never stored
    key_digest: str  # digest of the key secret that logged in (as in key_secrets)
    expires: str


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def ensure_schema(db) -> None:
    db.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (digest TEXT PRIMARY KEY, key_digest TEXT NOT NULL,
                   created TEXT NOT NULL, expires TEXT NOT NULL)""")


def create(db, key_digest: str, hours: int) -> Session:
    """A new session for the key secret with digest `key_digest`; ended sessions are dropped."""
    now = utcnow()
    session = Session(secrets.token_urlsafe(32), key_digest, iso(now + timedelta(hours=hours)))
    db.execute(f"DELETE FROM {TABLE} WHERE expires <= ?", [iso(now)])
    db.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)", [_digest(session.id), key_digest, iso(now), session.expires])
    return session


def lookup(db, session_id: str | None) -> Session | None:
    """The live session with this id, or None (unknown, ended or expired)."""
    if not session_id or len(session_id) > 100:
        return None
    row = db.execute(f"SELECT key_digest, expires FROM {TABLE} WHERE digest = ? AND expires > ?",
                     [_digest(session_id), iso(utcnow())]).fetchone()
    return None if row is None else Session(session_id, row[0], row[1])


def end(db, session_id: str) -> None:
    db.execute(f"DELETE FROM {TABLE} WHERE digest = ?", [_digest(session_id)])


def csrf_token(session_id: str) -> str:
    """The form token of a session: derived from its id, so nothing more is stored."""
    return hmac.new(session_id.encode(), b"aispendtrack-dashboard-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_id: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(csrf_token(session_id), token)
