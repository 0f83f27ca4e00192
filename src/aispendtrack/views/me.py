"""Where one key stands now — its hour, its account's month, budgets, spend this month — for
`GET /v1/me`. Only this key's and its account's counters are read: the key's hourly window,
the account's month counter, the two budgets' standings and the month's daily sums."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from aispendtrack.config import Config
from aispendtrack.limits.window import month_start
from aispendtrack.store.keys import account_limits
from aispendtrack.store.reads.legacy import as_store
from aispendtrack.views.budgets import budget_status
from aispendtrack.views.report import report
from aispendtrack.views.usage import account_month, key_hour, remaining, reset_seconds


def key_standing(store, config: Config, key_id: str, now: float | None = None) -> dict:
    """One key's `hour` and its account's `month` windows ({limit, used, remaining,
    reset_seconds}), the account's spend this month (exact decimal text) and the key's
    and account's dollar budgets (`views.budgets.budget_status`, None without one)."""
    store = as_store(store)
    now = time.time() if now is None else now
    key = store.get_key(key_id)
    account = store.get_account(key.account)
    rph, monthly = account_limits(account, config)
    hour = key_hour(store, key_id, rph, monthly, now)
    month = account_month(store, account.name, rph, monthly, now)
    since = datetime.fromtimestamp(month_start(now), UTC)
    spend = report(store, since=since, account=account.name, by="day").totals.to_dict()["cost_usd"]
    return {
        "hour": {"limit": rph, "used": hour.used, "remaining": remaining(rph, hour.used),
                 "reset_seconds": reset_seconds(hour.resets_at, now) if hour.source == "limits" else None},
        "month": {"limit": monthly, "used": month.used, "remaining": remaining(monthly, month.used),
                  "reset_seconds": math.ceil(month.resets_at - now)},
        "spend_month_usd": spend,
        "budget": {"key": budget_status(store, config, "key", key_id, now=now),
                   "account": budget_status(store, config, "account", account.name, account.tier, now)},
    }
