"""Dashboard sessions: only digests stored, expiry, logout, and the CSRF token."""

from datetime import timedelta

from aispendtrack.store import sessions
from aispendtrack.store.db import iso, utcnow


def test_create_lookup_end(store, database):
    s = store.create_session("keydigest", hours=12)
    stored = database.execute("SELECT * FROM dashboard_sessions")
    assert len(stored) == 1 and all(s.id not in str(v) for v in stored[0])
    assert store.lookup_session(s.id) == s
    assert store.lookup_session(s.id + "x") is None
    assert store.lookup_session(None) is None and store.lookup_session("a" * 500) is None
    store.end_session(s.id)
    assert store.lookup_session(s.id) is None


def test_expired_sessions_are_refused_and_dropped(store, database):
    old = store.create_session("d1", hours=1)
    database.execute("UPDATE dashboard_sessions SET expires = ?", [iso(utcnow() - timedelta(seconds=1))])
    assert store.lookup_session(old.id) is None
    store.create_session("d2", hours=1)
    assert [r[0] for r in database.execute("SELECT key_digest FROM dashboard_sessions")] == ["d2"]


def test_csrf_token_is_per_session(store):
    a, b = store.create_session("d", 1), store.create_session("d", 1)
    assert sessions.csrf_ok(a.id, sessions.csrf_token(a.id))
    assert not sessions.csrf_ok(a.id, sessions.csrf_token(b.id))
    assert not sessions.csrf_ok(a.id, None) and not sessions.csrf_ok(a.id, "")
