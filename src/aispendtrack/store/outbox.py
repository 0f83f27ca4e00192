"""Webhook endpoints and the durable outbox of events to send them.

`emit()` runs inside the caller's transaction (a key-store change, the limiter's
check-and-count), so an event exists exactly when the change that caused it committed:
a crash of any process loses none. One message row per subscribed endpoint; the delivery
worker (`serve.delivery`) claims due rows with a lease in one transaction, so two workers
never send one message at the same time, and records every attempt.

The endpoints themselves (URLs, secrets and their rotation, pausing) are `webhook_endpoints`.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

from aispendtrack.store import webhook_endpoints
from aispendtrack.store.conn import Conn
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.records import Attempt, Message

OUTBOX = "outbox"  # the delivery workers' write lock (PostgreSQL)
# Standard Webhooks retry schedule: the delay before attempt n+1 (the first is immediate).
SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
LEASE_SECONDS = 60.0
EXPIRING_DAYS = 7

def deliveries(conn: Conn, endpoint_id: str, limit: int = 100) -> list[Attempt]:
    """Newest attempts first, with the message's type and state."""
    return [Attempt(*r) for r in conn.execute(
        """SELECT a.message_id, m.type, a.ts, a.status, a.error, a.duration_ms, m.state, m.attempts
           FROM webhook_attempts a LEFT JOIN webhook_messages m ON m.id = a.message_id
           WHERE a.endpoint_id = ? ORDER BY a.id DESC LIMIT ?""",
        [endpoint_id, limit]).fetchall()]


# ---- events --------------------------------------------------------------------------


def emit(conn: Conn, account: str, type_: str, data: dict, *, now: float | None = None,
         endpoint_id: str | None = None) -> int:
    """Queue event `type_` for every enabled endpoint of `account` subscribed to it (or just
    `endpoint_id`); call inside the transaction of the change. Returns messages queued."""
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


def once(conn: Conn, scope: str, kind: str, period: str, now: float, *, every: float | None = None) -> bool:
    """True the first time (`scope`, `kind`, `period`) is seen — or, with `every`, when the
    last time was at least `every` seconds ago — and remember it. One statement, so two
    transactions that race for the same alert (two gateways' ledger writers) send it once."""
    again = "" if every is None else " WHERE ? - webhook_alerts.ts >= ?"
    sql = ("INSERT INTO webhook_alerts (scope, kind, period, ts) VALUES (?, ?, ?, ?) "
           f"ON CONFLICT (scope, kind, period) DO {'NOTHING' if every is None else 'UPDATE SET ts = excluded.ts'}"
           f"{again} RETURNING 1")
    params = [scope, kind, period, now, *([] if every is None else [now, every])]
    return conn.execute(sql, params).fetchone() is not None


# ---- delivery --------------------------------------------------------------------------


def claim(conn: Conn, owner: str, now: float, limit: int = 8, lease: float = LEASE_SECONDS) -> list[Message]:
    """Due messages of enabled, unpaused endpoints, leased to `owner` in one transaction, with
    the endpoint's secret and (during a rotation's grace) its previous one."""
    with conn.tx(OUTBOX):
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
    return [Message(*r) for r in conn.execute(
        f"""SELECT m.id, m.endpoint_id, m.type, m.payload, m.attempts, e.url, e.secret,
                   CASE WHEN e.previous_secret_until > ? THEN e.previous_secret END
            FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
            WHERE m.id IN ({marks}) ORDER BY m.next_at""", [iso(now), *ids]).fetchall()]


def record(conn: Conn, message: Message, owner: str, now: float, status: int | None, error: str | None,
           duration_ms: int) -> str:
    """Record one attempt and decide what follows: 'delivered', 'pending' (retry on the
    schedule), 'failed' (schedule exhausted) or 'disabled' (HTTP 410 Gone)."""
    attempts = message.attempts + 1
    with conn.tx(OUTBOX):
        conn.execute(
            "INSERT INTO webhook_attempts (message_id, endpoint_id, ts, status, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?)",
            [message.id, message.endpoint_id, iso(now), status, error, duration_ms],
        )
        if status is not None and 200 <= status < 300:
            outcome, state, next_at = "delivered", "delivered", now
        elif status == 410:
            outcome, state, next_at = "disabled", "failed", now
            conn.execute("UPDATE webhook_endpoints SET disabled = ?, disabled_reason = ? WHERE id = ?",
                         [iso(now), "the receiver answered 410 Gone", message.endpoint_id])
        elif attempts < len(SCHEDULE):
            outcome, state, next_at = "pending", "pending", now + SCHEDULE[attempts]
        else:
            outcome, state, next_at = "failed", "failed", now
        conn.execute(
            "UPDATE webhook_messages SET state = ?, attempts = ?, next_at = ?, lease_until = NULL, lease_owner = NULL "
            "WHERE id = ? AND lease_owner = ?",
            [state, attempts, next_at, message.id, owner],
        )
    return outcome


def expiring_keys(conn: Conn, now: float) -> int:
    """Queue `key.expiring` once per key and expiry date, 7 days before it (in one transaction)."""
    start = datetime.fromtimestamp(now, UTC)
    with conn.tx(OUTBOX):
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


def rotation_due_keys(conn: Conn, now: float, days: int) -> int:
    """Queue `key.rotation_due` once per key and secret: for active keys whose current secret
    was made `days` or more ago (a rotation makes a new secret, and a later reminder)."""
    due, at = iso(datetime.fromtimestamp(now - days * 86_400, UTC)), iso(datetime.fromtimestamp(now, UTC))
    with conn.tx(OUTBOX):
        rows = conn.execute(
            """SELECT k.id, k.name, a.name, (SELECT MAX(s.created) FROM key_secrets s WHERE s.key_id = k.id)
               FROM keys k JOIN accounts a ON a.id = k.account_id
               WHERE k.revoked IS NULL AND (k.expires IS NULL OR k.expires > ?)""",
            [at],
        ).fetchall()
        sent = 0
        for key_id, name, account, secret_created in rows:
            if secret_created is not None and secret_created <= due \
                    and once(conn, key_id, "key.rotation_due", secret_created, now):
                sent += emit(conn, account, "key.rotation_due",
                             {"account": account, "key_id": key_id, "name": name, "secret_created": secret_created,
                              "rotate_after_days": days}, now=now)
    return sent


def depth(conn: Conn, account: str) -> int:
    """Messages of the account's endpoints not delivered yet (pending, or leased and in flight)."""
    row = conn.execute("SELECT count(*) FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id"
                       " WHERE e.account = ? AND m.state = 'pending'", (account,)).fetchone()
    return int(row[0])


def test_event(conn: Conn, endpoint_id: str) -> int:
    """Queue a `webhook.test` event for one endpoint (`webhooks test`); messages queued."""
    endpoint = webhook_endpoints.get_endpoint(conn, endpoint_id)
    with conn.tx(OUTBOX):
        return emit(conn, endpoint.account, "webhook.test", {"account": endpoint.account, "endpoint_id": endpoint_id},
                    endpoint_id=endpoint_id)
