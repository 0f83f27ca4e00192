"""Webhook endpoints and the durable outbox of events to send them.

`emit()` runs inside the caller's transaction (a key-store change, the limiter's
check-and-count), so an event exists exactly when the change that caused it committed:
a crash of any process loses none. One message row per subscribed endpoint; the delivery
worker (`serve.delivery`) claims due rows with a lease in one transaction, so two workers
never send one message at the same time, and records every attempt.

The endpoints themselves (URLs, secrets and their rotation, pausing) are `webhook_endpoints`; their
names are re-exported here.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from aispendtrack.store import webhook_endpoints
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.webhook_endpoints import (  # noqa: F401  (re-exported: callers name them outbox.*)
    EVENTS, SECRET_PREFIX, WebhookError, add_endpoint, check_url, get_endpoint, list_endpoints, new_secret,
    parse_events, remove_endpoint, rotate_secret,
)
from aispendtrack.store.webhook_endpoints import conn_of as _conn
from aispendtrack.store.webhook_endpoints import rows_of as _rows

# Standard Webhooks retry schedule: the delay before attempt n+1 (the first is immediate).
SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
LEASE_SECONDS = 60.0
EXPIRING_DAYS = 7

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS webhook_messages (
        id TEXT PRIMARY KEY, endpoint_id TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,
        created TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL, lease_until REAL, lease_owner TEXT)""",
    "CREATE INDEX IF NOT EXISTS webhook_messages_due ON webhook_messages (state, next_at)",
    """CREATE TABLE IF NOT EXISTS webhook_attempts (
        id INTEGER PRIMARY KEY, message_id TEXT NOT NULL, endpoint_id TEXT NOT NULL, ts TEXT NOT NULL,
        status INTEGER, error TEXT, duration_ms INTEGER)""",
    "CREATE INDEX IF NOT EXISTS webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id)",
    # Events sent at most once per period (limit reached, quota thresholds, key expiring).
    """CREATE TABLE IF NOT EXISTS webhook_alerts (
        scope TEXT NOT NULL, kind TEXT NOT NULL, period TEXT NOT NULL, ts REAL NOT NULL,
        PRIMARY KEY (scope, kind, period)) WITHOUT ROWID""",
)


def ensure_schema(db) -> None:
    webhook_endpoints.ensure_schema(db)
    for sql in SCHEMA:
        _conn(db).execute(sql)


def deliveries(db, endpoint_id: str, limit: int = 100) -> list[dict]:
    """Newest attempts first, with the message's type and state."""
    return list(_rows(
        db,
        """SELECT a.message_id, m.type, a.ts, a.status, a.error, a.duration_ms, m.state, m.attempts
           FROM webhook_attempts a LEFT JOIN webhook_messages m ON m.id = a.message_id
           WHERE a.endpoint_id = ? ORDER BY a.id DESC LIMIT ?""",
        [endpoint_id, limit],
    ))


@contextmanager
def _immediate(db) -> Iterator[sqlite3.Connection]:
    """One write transaction (the delivery worker's; key-store changes use `Tx`)."""
    conn = _conn(db)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# ---- events --------------------------------------------------------------------------


def emit(db, account: str, type_: str, data: dict, *, now: float | None = None,
         endpoint_id: str | None = None) -> int:
    """Queue event `type_` for every enabled endpoint of `account` subscribed to it (or just
    `endpoint_id`); call inside the transaction of the change. Returns messages queued."""
    conn = _conn(db)
    when = utcnow() if now is None else datetime.fromtimestamp(now, UTC)
    sql = "SELECT id, events FROM webhook_endpoints WHERE account = ? AND disabled IS NULL AND paused IS NULL"
    params = [account]
    if endpoint_id is not None:
        sql, params = sql + " AND id = ?", [*params, endpoint_id]
    targets = [eid for eid, events in conn.execute(sql, params).fetchall()
               if endpoint_id is not None or events is None or type_ in json.loads(events)]
    if not targets:
        return 0
    payload = json.dumps({"type": type_, "timestamp": iso(when), "data": data}, separators=(",", ":"))
    for eid in targets:
        conn.execute(
            "INSERT INTO webhook_messages (id, endpoint_id, type, payload, created, next_at) VALUES (?, ?, ?, ?, ?, ?)",
            ["msg_" + secrets.token_hex(12), eid, type_, payload, iso(when), when.timestamp()],
        )
    return len(targets)


def once(db, scope: str, kind: str, period: str, now: float, *, every: float | None = None) -> bool:
    """True the first time (`scope`, `kind`, `period`) is seen — or, with `every`, when the
    last time was at least `every` seconds ago — and remember it."""
    conn = _conn(db)
    row = conn.execute("SELECT ts FROM webhook_alerts WHERE scope = ? AND kind = ? AND period = ?",
                       [scope, kind, period]).fetchone()
    if row is not None and (every is None or now - row[0] < every):
        return False
    conn.execute("INSERT OR REPLACE INTO webhook_alerts (scope, kind, period, ts) VALUES (?, ?, ?, ?)",
                 [scope, kind, period, now])
    return True


# ---- delivery --------------------------------------------------------------------------


def claim(db, owner: str, now: float, limit: int = 8, lease: float = LEASE_SECONDS) -> list[dict]:
    """Due messages of enabled, unpaused endpoints, leased to `owner` in one transaction, with
    the endpoint's secret and (during a rotation's grace) its previous one."""
    with _immediate(db) as conn:
        webhook_endpoints.drop_expired_secrets(conn, now)
        ids = [r[0] for r in conn.execute(
            """SELECT m.id FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
               WHERE m.state = 'pending' AND m.next_at <= ? AND (m.lease_until IS NULL OR m.lease_until <= ?)
                 AND e.disabled IS NULL AND e.paused IS NULL ORDER BY m.next_at LIMIT ?""",
            [now, now, limit]).fetchall()]
        conn.executemany("UPDATE webhook_messages SET lease_until = ?, lease_owner = ? WHERE id = ?",
                         [(now + lease, owner, i) for i in ids])
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return list(_rows(db, f"""SELECT m.id, m.endpoint_id, m.type, m.payload, m.attempts, e.url, e.secret,
                                   CASE WHEN e.previous_secret_until > ? THEN e.previous_secret END AS previous_secret
                            FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
                            WHERE m.id IN ({marks})""", [iso(now), *ids]))


def record(db, message: dict, owner: str, now: float, status: int | None, error: str | None,
           duration_ms: int) -> str:
    """Record one attempt and decide what follows: 'delivered', 'pending' (retry on the
    schedule), 'failed' (schedule exhausted) or 'disabled' (HTTP 410 Gone)."""
    attempts = message["attempts"] + 1
    with _immediate(db) as conn:
        conn.execute(
            "INSERT INTO webhook_attempts (message_id, endpoint_id, ts, status, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?)",
            [message["id"], message["endpoint_id"], iso(now), status, error, duration_ms],
        )
        if status is not None and 200 <= status < 300:
            outcome, state, next_at = "delivered", "delivered", now
        elif status == 410:
            outcome, state, next_at = "disabled", "failed", now
            conn.execute("UPDATE webhook_endpoints SET disabled = ?, disabled_reason = ? WHERE id = ?",
                         [iso(now), "the receiver answered 410 Gone", message["endpoint_id"]])
        elif attempts < len(SCHEDULE):
            outcome, state, next_at = "pending", "pending", now + SCHEDULE[attempts]
        else:
            outcome, state, next_at = "failed", "failed", now
        conn.execute(
            "UPDATE webhook_messages SET state = ?, attempts = ?, next_at = ?, lease_until = NULL, lease_owner = NULL "
            "WHERE id = ? AND lease_owner = ?",
            [state, attempts, next_at, message["id"], owner],
        )
    return outcome


def expiring_keys(db, now: float) -> int:
    """Queue `key.expiring` once per key and expiry date, 7 days before it (in one transaction)."""
    start = datetime.fromtimestamp(now, UTC)
    with _immediate(db) as conn:
        rows = conn.execute(
            """SELECT k.id, k.name, k.expires, a.name FROM keys k JOIN accounts a ON a.id = k.account_id
               WHERE k.revoked IS NULL AND k.expires > ? AND k.expires <= ?""",
            [iso(start), iso(start + timedelta(days=EXPIRING_DAYS))],
        ).fetchall()
        sent = 0
        for key_id, name, expires, account in rows:
            if once(conn, key_id, "key.expiring", expires, now):
                sent += emit(conn, account, "key.expiring",
                             {"account": account, "key_id": key_id, "name": name, "expires": expires}, now=now)
    return sent
