"""Webhook endpoints: where an account's events go, with which secret, and whether now.

The signing secret must be usable for signing, so it is stored as given (not a digest);
it is shown once (on creation or rotation) and never logged, returned or put in a URL
afterwards. A rotation keeps the previous secret signing next to the new one until the
grace ends; then it is dropped from the database. An endpoint is paused while its account
is on a tier without `webhooks` (no events are queued for it, none are sent) and resumed
when the account moves back to a tier with it.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from aispendtrack.store.conn import KEYSTORE, WEBHOOKS, Conn
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.records import Endpoint, KeyStoreError

EVENTS = (
    "key.created", "key.rotated", "key.revoked", "key.expiring", "key.rotation_due", "member.added", "member.removed",
    "member.role_changed", "limit.hourly_reached", "quota.monthly_threshold", "budget.threshold",
    "reconcile.drift",
)
SECRET_PREFIX = "whsec_"

class WebhookError(KeyStoreError):
    """A bad URL, event name or unknown endpoint, with a message fit for the user."""


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


def add_endpoint(conn: Conn, account: str, url: str, events: tuple[str, ...] | None,
                 tier_permissions: dict[str, tuple[str, ...]] | None = None) -> tuple[Endpoint, str]:
    """A new endpoint of `account`: (its row, without the secret; the secret, to show once).
    With `tier_permissions` (`Config.tier_permissions()`), the account's tier must have `webhooks`."""
    secret, endpoint_id = new_secret(), "wh_" + secrets.token_hex(6)
    with conn.tx(KEYSTORE):
        conn.signal(WEBHOOKS)
        row = conn.execute("SELECT tier FROM accounts WHERE name = ?", [account]).fetchone()
        if row is None:
            raise WebhookError(f"no account named {account!r}")
        if tier_permissions is not None and "webhooks" not in tier_permissions.get(row[0], ()):
            raise WebhookError(f"account {account!r} is on the {row[0]} tier: webhooks need the pro or "
                               "enterprise tier")
        conn.execute(
            "INSERT INTO webhook_endpoints (id, account, url, events, secret, created) VALUES (?, ?, ?, ?, ?, ?)",
            [endpoint_id, account, url, None if events is None else json.dumps(list(events)), secret,
             iso(utcnow())],
        )
    return get_endpoint(conn, endpoint_id, account), secret


_PUBLIC = "id, account, url, events, created, disabled, disabled_reason, paused, previous_secret_until"


def get_endpoint(conn: Conn, endpoint_id: str, account: str | None = None) -> Endpoint:
    rows = _endpoints(conn, f"SELECT {_PUBLIC} FROM webhook_endpoints WHERE id = ?", [endpoint_id])
    if not rows or (account is not None and rows[0].account != account):
        raise WebhookError(f"no webhook endpoint {endpoint_id!r}" + (f" in account {account}" if account else ""))
    return rows[0]


def list_endpoints(conn: Conn, account: str | None = None) -> list[Endpoint]:
    where, params = ("WHERE account = ?", [account]) if account else ("", [])
    return _endpoints(conn, f"SELECT {_PUBLIC} FROM webhook_endpoints {where} ORDER BY account, created", params)


def remove_endpoint(conn: Conn, endpoint_id: str, account: str | None = None) -> Endpoint:
    """Delete the endpoint and its undelivered messages (its attempts stay on record)."""
    row = get_endpoint(conn, endpoint_id, account)
    with conn.tx(KEYSTORE):
        conn.signal(WEBHOOKS)
        conn.execute("DELETE FROM webhook_messages WHERE endpoint_id = ? AND state = 'pending'", [endpoint_id])
        conn.execute("DELETE FROM webhook_endpoints WHERE id = ?", [endpoint_id])
    return row


def rotate_secret(conn: Conn, endpoint_id: str, grace_seconds: int, account: str | None = None,
                  now: datetime | None = None) -> tuple[Endpoint, str]:
    """A new signing secret for the endpoint (returned, to show once); the current one keeps
    signing too for `grace_seconds` (0: dropped at once). A secret still in its grace from an
    earlier rotation is dropped now: at most two sign."""
    get_endpoint(conn, endpoint_id, account)
    now = now or utcnow()
    secret = new_secret()
    until = iso(now + timedelta(seconds=grace_seconds)) if grace_seconds > 0 else None
    with conn.tx(KEYSTORE):
        conn.signal(WEBHOOKS)
        conn.execute(
            """UPDATE webhook_endpoints SET previous_secret = CASE WHEN CAST(? AS TEXT) IS NULL THEN NULL ELSE secret END,
                      previous_secret_until = ?, secret = ? WHERE id = ?""",
            [until, until, secret, endpoint_id])
    return get_endpoint(conn, endpoint_id), secret


def drop_expired_secrets(conn: Conn, now: float) -> None:
    """Forget previous secrets whose grace is over (inside the caller's write transaction)."""
    conn.execute("""UPDATE webhook_endpoints SET previous_secret = NULL, previous_secret_until = NULL
                    WHERE previous_secret_until IS NOT NULL AND previous_secret_until <= ?""", [iso(now)])


def follow_tier(conn: Conn, account: str, has_webhooks: bool) -> None:
    """Pause the account's endpoints when its tier has no `webhooks`, resume them when it has
    (inside the tier change's transaction)."""
    if has_webhooks:
        conn.execute("UPDATE webhook_endpoints SET paused = NULL WHERE account = ?", [account])
    else:
        conn.execute("UPDATE webhook_endpoints SET paused = ? WHERE account = ? AND paused IS NULL",
                            [iso(datetime.now(UTC)), account])


def _endpoints(conn: Conn, sql: str, params) -> list[Endpoint]:
    out = []
    for r in conn.execute(sql, params).fetchall():
        id_, account, url, events, created, disabled, reason, paused, until = r
        out.append(Endpoint(id_, account, url, None if events is None else tuple(json.loads(events)), created,
                            disabled, reason, paused, until))
    return out
