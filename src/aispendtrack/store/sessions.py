"""Dashboard sessions: a random id lives only in the browser's cookie; the table keeps its
SHA-256 digest, the digest of the key secret that logged in, and when the session ends."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from aispendtrack.store.conn import Conn
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.records import Session

TABLE = "dashboard_sessions"


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def create(conn: Conn, key_digest: str, hours: int) -> Session:
    """A new session for the key secret with digest `key_digest`; ended sessions are dropped."""
    now = utcnow()
    session = Session(secrets.token_urlsafe(32), key_digest, iso(now + timedelta(hours=hours)))
    conn.execute(f"DELETE FROM {TABLE} WHERE expires <= ?", [iso(now)])
    conn.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)", [_digest(session.id), key_digest, iso(now), session.expires])
    return session


def lookup(conn: Conn, session_id: str | None) -> Session | None:
    """The live session with this id, or None (unknown, ended or expired)."""
    if not session_id or len(session_id) > 100:
        return None
    row = conn.execute(f"SELECT key_digest, expires FROM {TABLE} WHERE digest = ? AND expires > ?",
                     [_digest(session_id), iso(utcnow())]).fetchone()
    return None if row is None else Session(session_id, row[0], row[1])


def end(conn: Conn, session_id: str) -> None:
    conn.execute(f"DELETE FROM {TABLE} WHERE digest = ?", [_digest(session_id)])


def csrf_token(session_id: str) -> str:
    """The form token of a session: derived from its id, so nothing more is stored."""
    return hmac.new(session_id.encode(), b"aispendtrack-dashboard-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_id: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(csrf_token(session_id), token)
