"""Dashboard sessions: only digests stored, expiry, logout, and the CSRF token."""

from datetime import timedelta

from aispendtrack.store import sessions
from aispendtrack.store.db import iso, utcnow


def test_create_lookup_end(database):
    sessions.ensure_schema(database)
    s = sessions.create(database, "keydigest", hours=12)
    stored = database.execute("SELECT * FROM dashboard_sessions").fetchall()
    assert len(stored) == 1 and all(s.id not in str(v) for v in stored[0])
    assert sessions.lookup(database, s.id) == s
    assert sessions.lookup(database, s.id + "x") is None
    assert sessions.lookup(database, None) is None and sessions.lookup(database, "a" * 500) is None
    sessions.end(database, s.id)
    assert sessions.lookup(database, s.id) is None


def test_expired_sessions_are_refused_and_dropped(database):
    sessions.ensure_schema(database)
    old = sessions.create(database, "d1", hours=1)
    database.execute("UPDATE dashboard_sessions SET expires = ?", [iso(utcnow() - timedelta(seconds=1))])
    assert sessions.lookup(database, old.id) is None
    sessions.create(database, "d2", hours=1)
    assert [r[0] for r in database.execute("SELECT key_digest FROM dashboard_sessions")] == ["d2"]


def test_csrf_token_is_per_session(database):
    sessions.ensure_schema(database)
    a, b = sessions.create(database, "d", 1), sessions.create(database, "d", 1)
    assert sessions.csrf_ok(a.id, sessions.csrf_token(a.id))
    assert not sessions.csrf_ok(a.id, sessions.csrf_token(b.id))
    assert not sessions.csrf_ok(a.id, None) and not sessions.csrf_ok(a.id, "")
