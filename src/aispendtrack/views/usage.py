"""Usage against limits, per key (hourly) and per account (monthly), for the CLI and views."""

from __future__ import annotations

import math
import time

from aispendtrack.store import keys
from aispendtrack.config import Config
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store import limits as store
from aispendtrack.limits.window import month_start, next_month_start, window_cut

HOUR = 3600
# Ledger outcomes of calls that went upstream: what the limits count.
COUNTED = "outcome IN ('forwarded', 'upstream_error', 'aborted')"


def _ledger_count(database, column: str, value: str, since: float, now: float) -> int:
    """Calls of a key or account since `since`, from the ledger: unlimited keys keep no
    limit counter (the limiter skips them), so their usage is read from what was metered."""
    rows = database.execute(
        f"SELECT COUNT(*) FROM calls WHERE {column} = ? AND ts > ? AND ts <= ? AND {COUNTED}",
        [value, iso(since), iso(now)],
    ).fetchall()
    return rows[0][0]


def _hourly_reset(database, key_id: str, now: float) -> int | None:
    """Seconds until the key's oldest counted request leaves the window (None: none counted)."""
    rows = database.execute(
        "SELECT MIN(ts) FROM rate_events WHERE key_id = ? AND ts > ?", [key_id, window_cut(now)]
    ).fetchall()
    oldest = rows[0][0] if rows else None
    return None if oldest is None else max(1, math.ceil(oldest + HOUR - now))


def account_usage(database, config: Config, now: float | None = None) -> list[dict]:
    now = time.time() if now is None else now
    now_iso = iso(utcnow())
    out = []
    for account in keys.list_accounts(database):
        rph, monthly = keys.account_limits(account, config)
        if rph is None and monthly is None:
            used = _ledger_count(database, "account", account["name"], month_start(now) - 1e-6, now)
        else:
            used = store.usage(database, account_id=account["name"], now=now).monthly_count
        active = database.execute(
            "SELECT COUNT(*) FROM keys WHERE account_id = ? AND revoked IS NULL AND (expires IS NULL OR expires > ?)",
            [account["id"], now_iso],
        ).fetchall()[0][0]
        out.append({
            "name": account["name"],
            "tier": account["tier"],
            "active_keys": active,
            "requests_per_hour": rph,
            "monthly_calls": monthly,
            "monthly_used": used,
            "monthly_remaining": None if monthly is None else max(0, monthly - used),
            "monthly_reset_seconds": math.ceil(next_month_start(now) - now),
        })
    return out


def key_usage(database, config: Config, account: str | None = None, now: float | None = None) -> list[dict]:
    now = time.time() if now is None else now
    now_iso = iso(utcnow())
    accounts = {a["name"]: a for a in keys.list_accounts(database)}
    out = []
    for key in keys.list_keys(database, account):
        rph, monthly = keys.account_limits(accounts[key["account"]], config)
        if rph is None and monthly is None:
            used = _ledger_count(database, "key_id", key["id"], now - HOUR, now)
        else:
            used = store.usage(database, key_id=key["id"], now=now).hourly_count
        out.append({
            **key,
            "in_grace": bool(key["in_grace"]),
            "state": keys.key_state(key, now_iso),
            "requests_per_hour": rph,
            "hourly_used": used,
            "hourly_remaining": None if rph is None else max(0, rph - used),
            "hourly_reset_seconds": _hourly_reset(database, key["id"], now),
        })
    return out


def fmt_limit(limit: int | None) -> str:
    return "unlimited" if limit is None else f"{limit:,}"


def fmt_used(used: int | None, limit: int | None) -> str:
    used = used or 0
    if limit is None:
        return f"{used:,} (unlimited)"
    pct = used / limit * 100
    flag = " ⚠" if pct >= 90 else ""
    return f"{used:,} / {limit:,} ({pct:.0f}%){flag}"


def fmt_reset(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
