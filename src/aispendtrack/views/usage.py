"""Usage against limits — the one rule for every view (CLI lists, report, top, /v1/me).

A key's hourly window and an account's calendar month (UTC), each with its limit and
when its count next goes down. The counts are the store's (`store.key_hour`,
`store.account_month`): the limiter's own counters for accounts with any limit, what the
ledger metered (calls that reached the provider) for unlimited accounts, which the
limiter does not count.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from aispendtrack.config import Config
from aispendtrack.limits import permissions as perms
from aispendtrack.limits.window import next_month_start
from aispendtrack.store.db import iso
from aispendtrack.store.keys import account_limits
from aispendtrack.store.reads.legacy import as_store
from aispendtrack.store.records import KeyInfo
from aispendtrack.views.budgets import budget_status
from aispendtrack.views.render import fmt_reset  # noqa: F401  (CLI lists and the dashboard use it from here)


@dataclass(frozen=True)
class Window:
    """One limit window: how much of it is used, and when that count next goes down."""

    used: int
    limit: int | None  # None = unlimited
    resets_at: float | None  # epoch; None: nothing counted (hourly)
    source: str  # "limits" (the limiter's counters) | "ledger" (what was metered)


def _by_limiter(hourly: int | None, monthly: int | None) -> bool:
    return hourly is not None or monthly is not None


def key_hour(store, key_id: str, hourly: int | None, monthly: int | None, now: float) -> Window:
    """The key's requests in the sliding hour `(now - 3600, now]`."""
    c = store.key_hour(key_id, now, limiter=_by_limiter(hourly, monthly))
    return Window(c.used, hourly, c.resets_at, c.source)


def account_month(store, account: str, hourly: int | None, monthly: int | None, now: float) -> Window:
    """The account's calls in the UTC calendar month of `now` (accounts are counted by name)."""
    c = store.account_month(account, now, limiter=_by_limiter(hourly, monthly))
    return Window(c.used, monthly, next_month_start(now), c.source)


def active_keys(store, now_iso: str) -> list[KeyInfo]:
    """Every key neither revoked nor expired, by id."""
    return sorted((k for k in store.list_keys() if k.state(now_iso) == "active"), key=lambda k: k.id)


def reset_seconds(at: float | None, now: float) -> int | None:
    """Whole seconds (at least 1) until `at`; None for None."""
    return None if at is None else max(1, math.ceil(at - now))


def remaining(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(0, limit - used)


def account_usage(store, config: Config, now: float | None = None) -> list[dict]:
    """Every account with its tier, active keys, monthly window and budget (`accounts list`)."""
    store = as_store(store)
    now = time.time() if now is None else now
    live = active_keys(store, iso(now))
    out = []
    for account in store.list_accounts():
        rph, monthly = account_limits(account, config)
        month = account_month(store, account.name, rph, monthly, now)
        out.append({
            "name": account.name,
            "tier": account.tier,
            "active_keys": sum(1 for k in live if k.account_id == account.id),
            "requests_per_hour": rph,
            "monthly_calls": monthly,
            "monthly_used": month.used,
            "monthly_remaining": remaining(monthly, month.used),
            "monthly_reset_seconds": math.ceil(month.resets_at - now),
            "budget": budget_status(store, config, "account", account.name, account.tier, now),
        })
    return out


def rotation_due(key: KeyInfo, config: Config, now: float) -> bool:
    """Whether the key's secret is `[keys] rotate_after_days` old or older (and the key active)."""
    return key.rotation_due(iso(now), iso(now - config.keys.rotate_after_days * 86_400))


def key_usage(store, config: Config, account: str | None = None, now: float | None = None) -> list[dict]:
    """Every key (of `account`) with its state, permissions, hourly window and budget (`keys list`)."""
    store = as_store(store)
    now = time.time() if now is None else now
    accounts = {a.name: a for a in store.list_accounts()}
    return [key_row(store, config, key, accounts[key.account], now) for key in store.list_keys(account)]


def key_row(store, config: Config, key: KeyInfo, account, now: float) -> dict:
    """One key as `keys list --json` shows it."""
    rph, monthly = account_limits(account, config)
    hour = key_hour(store, key.id, rph, monthly, now)
    return {
        "id": key.id, "account": key.account, "name": key.name, "created": key.created,
        "last_used": key.last_used, "revoked": key.revoked, "expires": key.expires,
        "permissions": list(perms.effective(config.tier(account.tier).permissions, key.permissions)),
        "models": None if key.models is None else list(key.models),
        "member": key.member, "hint": key.hint, "in_grace": key.in_grace,
        "state": key.state(iso(now)),
        "rotated": key.secret_created or key.created,
        "rotation_due": rotation_due(key, config, now),
        "requests_per_hour": rph,
        "hourly_used": hour.used,
        "hourly_remaining": remaining(rph, hour.used),
        "hourly_reset_seconds": reset_seconds(hour.resets_at, now) if hour.source == "limits" else None,
        "budget": budget_status(store, config, "key", key.id, now=now),
        "tags": key.tags,
    }  # fmt: skip


def fmt_limit(limit: int | None) -> str:
    return "unlimited" if limit is None else f"{limit:,}"


def fmt_used(used: int | None, limit: int | None) -> str:
    used = used or 0
    if limit is None:
        return f"{used:,} (unlimited)"
    pct = used / limit * 100
    flag = " ⚠" if pct >= 90 else ""
    return f"{used:,} / {limit:,} ({pct:.0f}%){flag}"
