"""Where each key and account stands against its limits: `limits_status(store, config)`.

The counts and resets come from `views.usage` (the one usage-against-limits rule)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.keys import account_limits
from aispendtrack.store.reads.legacy import as_store
from aispendtrack.store.records import Account
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


def _limits(account: Account, config) -> tuple[int | None, int | None]:
    try:
        return account_limits(account, config)
    except Exception:  # no config or an unknown tier: the account's own overrides only
        return tuple(None if (v := getattr(account, c)) is None or v < 0 else v
                     for c in ("requests_per_hour", "monthly_calls"))


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def limits_status(store, config, now: datetime | None = None) -> list[LimitStatus]:
    """Every active key's hourly window and every account's monthly window, nearest to
    its limit first."""
    store = as_store(store)
    now = _utc(now or utcnow())
    t = now.timestamp()
    accounts = {a.id: a for a in store.list_accounts()}
    out, monthly = [], {}
    for key in active_keys(store, iso(now)):
        acct = accounts.get(key.account_id)
        if acct is None:
            continue
        limits = _limits(acct, config)
        hour = key_hour(store, key.id, *limits, t)
        out.append(LimitStatus("key", key.id, key.name, "hour", hour.used, hour.limit, _when(hour.resets_at),
                               hour.source))
        if acct.id not in monthly:
            m = account_month(store, acct.name, *limits, t)
            monthly[acct.id] = LimitStatus("account", str(acct.id), acct.name, "month", m.used, m.limit,
                                           _when(m.resets_at), m.source)
    out += monthly.values()
    return sorted(out, key=lambda s: (-(s.fraction or 0), s.scope, s.id))
