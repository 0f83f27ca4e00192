"""Webhook endpoints and the durable outbox of events to send them.

`emit()` runs inside the caller's transaction (a key-store change, the limiter's
check-and-count), so an event exists exactly when the change that caused it committed:
a crash of any process loses none. One message row per subscribed endpoint; the delivery
worker (`serve.delivery`) claims due rows with a lease in one transaction, so two workers
never send one message at the same time, and records every attempt.

The signing secret must be usable for signing, so it is stored as given (not a digest);
it is shown once on creation and never logged, returned or put in a URL afterwards.
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.tx import KeyStoreError, Tx

EVENTS = (
    "key.created", "key.rotated", "key.revoked", "key.expiring", "member.added", "member.removed",
    "limit.hourly_reached", "quota.monthly_threshold", "budget.threshold",
)
# Standard Webhooks retry schedule: the delay before attempt n+1 (the first is immediate).
SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
LEASE_SECONDS = 60.0
EXPIRING_DAYS = 7
SECRET_PREFIX = "whsec_"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS webhook_endpoints (
        id TEXT PRIMARY KEY, account TEXT NOT NULL, url TEXT NOT NULL, events TEXT,
        secret TEXT NOT NULL, created TEXT NOT NULL, disabled TEXT, disabled_reason TEXT)""",
    "CREATE INDEX IF NOT EXISTS webhook_endpoints_account ON webhook_endpoints (account)",
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


class WebhookError(KeyStoreError):
    """A bad URL, event name or unknown endpoint, with a message fit for the user."""


def _conn(db):
    return getattr(db, "conn", db)


def ensure_schema(db) -> None:
    conn = _conn(db)
    for sql in SCHEMA:
        conn.execute(sql)


def parse_events(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """`"key.created,key.revoked"` or a list → tuple; None = every event."""
    if value is None:
        return None
    items = [e.strip() for e in (value.split(",") if isinstance(value, str) else value)]
    items = [e for e in items if e]
    if unknown := [e for e in items if e not in EVENTS]:
        raise WebhookError(f"unknown event {unknown[0]!r}: choose from {', '.join(EVENTS)}")
    if not items:
        raise WebhookError("event list is empty; leave it out to receive every event")
    return tuple(e for e in EVENTS if e in items)


def check_url(url: str, allow_hosts: Iterable[str] | None = None) -> str:
    """http(s) URLs only, no credentials in them, a valid port; `allow_hosts` (host globs)
    restricts where. Where the host's addresses are is `serve.webhook_targets`' rule."""
    if len(url) > 2000 or not url.isprintable() or " " in url:
        raise WebhookError("webhook URL is too long or has spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("webhook URL must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise WebhookError("webhook URL must not carry credentials; the signature authenticates us")
    try:
        parts.port
    except ValueError:
        raise WebhookError("webhook URL has an invalid port (1-65535)") from None
    allow = list(allow_hosts or ())
    if allow and not any(fnmatchcase(parts.hostname.rstrip("."), _pattern(h)) for h in allow):
        raise WebhookError(f"webhooks may point only to {', '.join(allow)} ([webhooks] allow_hosts)")
    return url


def _pattern(entry: str) -> str:
    """An `allow_hosts` entry as URL host names are written by `urlsplit`: lower case, no
    brackets around an IPv6 address, no trailing dot."""
    entry = entry.strip().lower().rstrip(".")
    return entry[1:-1] if entry.startswith("[") and entry.endswith("]") and ":" in entry else entry


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def add_endpoint(db, account: str, url: str, events: tuple[str, ...] | None,
                 tier_permissions: dict[str, tuple[str, ...]] | None = None) -> tuple[dict, str]:
    """A new endpoint of `account`: (its row, without the secret; the secret, to show once).
    With `tier_permissions` (`Config.tier_permissions()`), the account's tier must have `webhooks`."""
    secret, endpoint_id = new_secret(), "wh_" + secrets.token_hex(6)
    with Tx(db):
        row = _conn(db).execute("SELECT tier FROM accounts WHERE name = ?", [account]).fetchone()
        if row is None:
            raise WebhookError(f"no account named {account!r}")
        if tier_permissions is not None and "webhooks" not in tier_permissions.get(row[0], ()):
            raise WebhookError(f"account {account!r} is on the {row[0]} tier: webhooks need the pro or "
                               "enterprise tier")
        _conn(db).execute(
            "INSERT INTO webhook_endpoints (id, account, url, events, secret, created) VALUES (?, ?, ?, ?, ?, ?)",
            [endpoint_id, account, url, None if events is None else json.dumps(list(events)), secret,
             iso(utcnow())],
        )
    return get_endpoint(db, endpoint_id, account), secret


_PUBLIC = "id, account, url, events, created, disabled, disabled_reason"


def get_endpoint(db, endpoint_id: str, account: str | None = None) -> dict:
    rows = list(_rows(db, f"SELECT {_PUBLIC} FROM webhook_endpoints WHERE id = ?", [endpoint_id]))
    if not rows or (account is not None and rows[0]["account"] != account):
        raise WebhookError(f"no webhook endpoint {endpoint_id!r}" + (f" in account {account}" if account else ""))
    return rows[0]


def list_endpoints(db, account: str | None = None) -> list[dict]:
    where, params = ("WHERE account = ?", [account]) if account else ("", [])
    return list(_rows(db, f"SELECT {_PUBLIC} FROM webhook_endpoints {where} ORDER BY account, created", params))


def remove_endpoint(db, endpoint_id: str, account: str | None = None) -> dict:
    """Delete the endpoint and its undelivered messages (its attempts stay on record)."""
    row = get_endpoint(db, endpoint_id, account)
    with Tx(db):
        conn = _conn(db)
        conn.execute("DELETE FROM webhook_messages WHERE endpoint_id = ? AND state = 'pending'", [endpoint_id])
        conn.execute("DELETE FROM webhook_endpoints WHERE id = ?", [endpoint_id])
    return row


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


def _rows(db, sql: str, params) -> Iterable[dict]:
    cur = _conn(db).execute(sql, params)
    names = [c[0] for c in cur.description]
    for r in cur.fetchall():
        d = dict(zip(names, r))
        if "events" in d:
            d["events"] = None if d["events"] is None else json.loads(d["events"])
        yield d


# ---- events --------------------------------------------------------------------------


def emit(db, account: str, type_: str, data: dict, *, now: float | None = None,
         endpoint_id: str | None = None) -> int:
    """Queue event `type_` for every enabled endpoint of `account` subscribed to it (or just
    `endpoint_id`); call inside the transaction of the change. Returns messages queued."""
    conn = _conn(db)
    when = utcnow() if now is None else datetime.fromtimestamp(now, UTC)
    sql, params = "SELECT id, events FROM webhook_endpoints WHERE account = ? AND disabled IS NULL", [account]
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
    """Due messages of enabled endpoints, leased to `owner` in one transaction."""
    with _immediate(db) as conn:
        ids = [r[0] for r in conn.execute(
            """SELECT m.id FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
               WHERE m.state = 'pending' AND m.next_at <= ? AND (m.lease_until IS NULL OR m.lease_until <= ?)
                 AND e.disabled IS NULL ORDER BY m.next_at LIMIT ?""", [now, now, limit]).fetchall()]
        conn.executemany("UPDATE webhook_messages SET lease_until = ?, lease_owner = ? WHERE id = ?",
                         [(now + lease, owner, i) for i in ids])
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return list(_rows(db, f"""SELECT m.id, m.endpoint_id, m.type, m.payload, m.attempts, e.url, e.secret
                            FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
                            WHERE m.id IN ({marks})""", ids))


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
