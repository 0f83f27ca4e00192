"""Where each key and account stands against its limits: `limits_status(db, config)`.

The counts and resets come from `views.usage` (the one usage-against-limits rule)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.keys import account_limits
from aispendtrack.views.periods import _utc
from aispendtrack.views.usage import account_month, active_keys, key_hour


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
    source: str = "limits"  # "limits" (the limiter's counters) | "ledger" (what was metered)

    @property
    def fraction(self) -> float | None:
        if self.limit is None:
            return None
        return 1.0 if self.limit == 0 else self.used / self.limit


def _limits(row: dict, config) -> tuple[int | None, int | None]:
    try:
        return account_limits(row, config)
    except Exception:  # no config or an unknown tier: the account's own overrides only
        return tuple(None if row[c] is None or row[c] < 0 else row[c] for c in ("requests_per_hour", "monthly_calls"))


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def limits_status(db, config, now: datetime | None = None) -> list[LimitStatus]:
    """Every active key's hourly window and every account's monthly window, nearest to
    its limit first."""
    now = _utc(now or utcnow())
    if not (db["accounts"].exists() and db["keys"].exists()):
        return []
    if not (db["rate_events"].exists() or db["calls"].exists()):
        return []
    t = now.timestamp()
    accounts = {r["id"]: r for r in db.query("SELECT id, name, tier, requests_per_hour, monthly_calls FROM accounts")}
    out, monthly = [], {}
    for key_id, account_id, name in active_keys(db, iso(now)):
        acct = accounts.get(account_id)
        if acct is None:
            continue
        limits = _limits(acct, config)
        hour = key_hour(db, key_id, *limits, t)
        out.append(LimitStatus("key", key_id, name, "hour", hour.used, hour.limit, _when(hour.resets_at), hour.source))
        if account_id not in monthly:
            m = account_month(db, acct["name"], *limits, t)
            monthly[account_id] = LimitStatus("account", str(account_id), acct["name"], "month", m.used, m.limit,
                                              _when(m.resets_at), m.source)
    out += monthly.values()
    return sorted(out, key=lambda s: (-(s.fraction or 0), s.scope, s.id))
