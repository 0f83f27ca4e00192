"""Usage against limits — the one rule for every view (CLI lists, report, top).

A key's hourly window and an account's calendar month (UTC), each with its limit and
when its count next goes down. Counts come from the limiter's own counters
(`store.limits.usage`) when the limiter keeps them: for accounts with any limit, and
once its tables exist. Unlimited accounts keep no counter (the limiter skips them), so
their usage is what the ledger metered: calls that reached the provider.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from aispendtrack.limits import permissions as perms
from aispendtrack.config import Config
from aispendtrack.limits.window import WINDOW, expiry, month_start, next_month_start, window_cut
from aispendtrack.store import keys
from aispendtrack.views.budgets import budget_status
from aispendtrack.views.render import fmt_reset  # noqa: F401  (CLI lists and the dashboard use it from here)
from aispendtrack.store import limits as store
from aispendtrack.store.db import iso, parse_iso
from aispendtrack.store.ledger_schema import UPSTREAM, sql_in

HOUR = WINDOW
COUNTED = f"outcome IN {sql_in(UPSTREAM)}"


@dataclass(frozen=True)
class Window:
    """One limit window: how much of it is used, and when that count next goes down."""

    used: int
    limit: int | None  # None = unlimited
    resets_at: float | None  # epoch; None: nothing counted (hourly)
    source: str  # "limits" (the limiter's counters) | "ledger" (what was metered)


def _counted_by_limiter(database, hourly: int | None, monthly: int | None) -> bool:
    return (hourly is not None or monthly is not None) and database["rate_events"].exists()


def key_hour(database, key_id: str, hourly: int | None, monthly: int | None, now: float) -> Window:
    """The key's requests in the sliding hour `(now - 3600, now]`."""
    if _counted_by_limiter(database, hourly, monthly):
        used = store.usage(database, key_id=key_id, now=now).hourly_count
        (oldest,) = database.execute(
            "SELECT MIN(ts) FROM rate_events WHERE key_id = ? AND ts > ?", [key_id, window_cut(now)]
        ).fetchone()
        return Window(used, hourly, None if oldest is None else expiry(oldest), "limits")
    used, oldest = database.execute(
        f"SELECT COUNT(*), MIN(ts) FROM calls WHERE key_id = ? AND ts > ? AND ts <= ? AND {COUNTED}",
        [key_id, iso(now - HOUR), iso(now)],
    ).fetchone()
    return Window(used, hourly, None if oldest is None else parse_iso(oldest).timestamp() + HOUR, "ledger")


def account_month(database, account: str, hourly: int | None, monthly: int | None, now: float) -> Window:
    """The account's calls in the UTC calendar month of `now` (accounts are counted by name)."""
    if _counted_by_limiter(database, hourly, monthly):
        used = store.usage(database, account=account, now=now).monthly_count
        source = "limits"
    else:
        (used,) = database.execute(
            f"SELECT COUNT(*) FROM calls WHERE account = ? AND ts >= ? AND ts <= ? AND {COUNTED}",
            [account, iso(month_start(now)), iso(now)],
        ).fetchone()
        source = "ledger"
    return Window(used, monthly, next_month_start(now), source)


def active_keys(database, now_iso: str) -> list[tuple[str, int, str | None]]:
    """(key id, account id, name) of every key neither revoked nor expired."""
    return database.execute(
        "SELECT id, account_id, name FROM keys WHERE revoked IS NULL AND (expires IS NULL OR expires > ?) "
        "ORDER BY id",
        [now_iso],
    ).fetchall()


def _reset_seconds(at: float | None, now: float) -> int | None:
    return None if at is None else max(1, math.ceil(at - now))


def account_usage(database, config: Config, now: float | None = None) -> list[dict]:
    now = time.time() if now is None else now
    now_iso = iso(now)
    live = active_keys(database, now_iso)
    out = []
    for account in keys.list_accounts(database):
        rph, monthly = keys.account_limits(account, config)
        month = account_month(database, account["name"], rph, monthly, now)
        out.append({
            "name": account["name"],
            "tier": account["tier"],
            "active_keys": sum(1 for _, account_id, _ in live if account_id == account["id"]),
            "requests_per_hour": rph,
            "monthly_calls": monthly,
            "monthly_used": month.used,
            "monthly_remaining": None if monthly is None else max(0, monthly - month.used),
            "monthly_reset_seconds": math.ceil(month.resets_at - now),
            "budget": budget_status(database, config, "account", account["name"], account["tier"], now),
        })
    return out


def key_usage(database, config: Config, account: str | None = None, now: float | None = None) -> list[dict]:
    now = time.time() if now is None else now
    now_iso = iso(now)
    accounts = {a["name"]: a for a in keys.list_accounts(database)}
    out = []
    for key in keys.list_keys(database, account):
        rph, monthly = keys.account_limits(accounts[key["account"]], config)
        hour = key_hour(database, key["id"], rph, monthly, now)
        tier = accounts[key["account"]]["tier"]
        out.append({
            **key,
            "permissions": list(perms.effective(config.tier(tier).permissions, keys.decode(key["permissions"]))),
            "models": keys.decode(key["models"]),
            "in_grace": bool(key["in_grace"]),
            "state": keys.key_state(key, now_iso),
            "requests_per_hour": rph,
            "hourly_used": hour.used,
            "hourly_remaining": None if rph is None else max(0, rph - hour.used),
            "hourly_reset_seconds": _reset_seconds(hour.resets_at, now) if hour.source == "limits" else None,
            "budget": budget_status(database, config, "key", key["id"], now=now),
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
