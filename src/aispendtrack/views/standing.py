"""Where each key and account stands against its limits: `limits_status(db, config)`.

Counts come from `limits.store` when its tables exist, else an estimate from the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from aispendtrack.store.db import iso, parse_iso, utcnow
from aispendtrack.views.periods import _utc

NOT_UPSTREAM = "('rejected', 'rate_limited', 'quota_exceeded')"  # outcomes that never reached upstream


@dataclass
class LimitStatus:
    """One limit window: a key's hourly requests, or an account's calls this UTC month."""

    scope: str  # "key" (hourly window) | "account" (monthly window)
    id: str
    name: str | None
    window: str  # "hour" | "month"
    used: int
    limit: int | None  # None = unlimited
    resets_at: datetime | None  # when `used` next goes down (None: nothing counted)
    source: str = "limits"  # "limits" (limits.store) | "ledger" (fallback estimate)

    @property
    def fraction(self) -> float | None:
        if self.limit is None:
            return None
        return 1.0 if self.limit == 0 else self.used / self.limit


def _account_limits(row: dict, config) -> tuple[int | None, int | None]:
    try:
        from aispendtrack.store.keys import account_limits

        return account_limits(row, config)
    except Exception:  # no config, unknown tier, partial checkout: use the account's overrides
        return tuple(None if row[c] is None or row[c] < 0 else row[c] for c in ("requests_per_hour", "monthly_calls"))


def _limits_usage(db, key_id, account, now: datetime) -> tuple[int, datetime | None, int]:
    """(hourly count of the key, when it next drops, monthly count of the account)."""
    try:
        from aispendtrack.store import limits as store
    except ImportError:
        store = None
    t = now.timestamp()
    if store is not None and db["rate_events"].exists():
        u = store.usage(db, key_id=key_id, account_id=account, now=t)
        # the oldest counted event leaves the window first
        (oldest,) = db.execute("SELECT MIN(ts) FROM rate_events WHERE key_id = ? AND ts > ?", [key_id, t - 3600]).fetchone()
        reset = datetime.fromtimestamp(oldest + 3600, UTC) if oldest is not None else None
        return u.hourly_count or 0, reset, u.monthly_count or 0
    # fallback (no limits tables yet): calls that passed the limiter, from the ledger
    passed = f"outcome NOT IN {NOT_UPSTREAM}"
    n_h, oldest = db.execute(
        f"SELECT COUNT(*), MIN(ts) FROM calls WHERE key_id = ? AND {passed} AND ts > ?", [key_id, iso(now - timedelta(hours=1))]
    ).fetchone()
    month0 = datetime.combine(now.date().replace(day=1), time(), UTC)
    (n_m,) = db.execute(f"SELECT COUNT(*) FROM calls WHERE account = ? AND {passed} AND ts >= ?", [account, iso(month0)]).fetchone()
    return n_h, (parse_iso(oldest) + timedelta(hours=1) if oldest else None), n_m


def limits_status(db, config, now: datetime | None = None) -> list[LimitStatus]:
    """Every active key's hourly window and every account's monthly window, nearest to
    its limit first. Counts come from `limits.store.usage` (accounts are counted by name,
    as the limiter does); without the limits tables, from the ledger (`source="ledger"`)."""
    now = _utc(now or utcnow())
    if not (db["accounts"].exists() and db["keys"].exists()):
        return []
    source = "limits" if db["rate_events"].exists() else "ledger"
    if source == "ledger" and not db["calls"].exists():
        return []
    accounts = {r["id"]: r for r in db.query("SELECT id, name, tier, requests_per_hour, monthly_calls FROM accounts")}
    keys = db.execute("SELECT id, account_id, name FROM keys WHERE revoked IS NULL AND (expires IS NULL OR expires > ?) ORDER BY id", [iso(now)]).fetchall()
    next_month = (datetime.combine(now.date().replace(day=1), time(), UTC) + timedelta(days=32)).replace(day=1)
    out, monthly = [], {}
    for key_id, account_id, name in keys:
        acct = accounts.get(account_id)
        if acct is None:
            continue
        hourly_limit, monthly_limit = _account_limits(acct, config)
        used_h, reset_h, used_m = _limits_usage(db, key_id, acct["name"], now)
        out.append(LimitStatus("key", key_id, name, "hour", used_h, hourly_limit, reset_h, source))
        monthly[account_id] = LimitStatus("account", str(account_id), acct["name"], "month", used_m, monthly_limit, next_month, source)
    out += monthly.values()
    return sorted(out, key=lambda s: (-(s.fraction or 0), s.scope, s.id))
