"""Where one key stands now — its hour, its account's month, budgets, spend this month — for
`GET /v1/me`. Kept apart from `usage` because it also sums spend with `report`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aispendtrack.config import Config
from aispendtrack.limits.window import month_start
from aispendtrack.store import keys
from aispendtrack.views.report import report
from aispendtrack.views.usage import account_usage, key_usage


def key_standing(database, config: Config, key_id: str, now: float | None = None) -> dict:
    """One key's `hour` and its account's `month` windows ({limit, used, remaining,
    reset_seconds}), the account's spend this month (exact decimal text) and the key's
    and account's dollar budgets (`views.budgets.budget_status`, None without one)."""
    now = time.time() if now is None else now
    account = keys.get_key(database, key_id)["account"]
    k = next(r for r in key_usage(database, config, account, now) if r["id"] == key_id)
    a = next(r for r in account_usage(database, config, now) if r["name"] == account)
    since = datetime.fromtimestamp(month_start(now), UTC)
    spend = report(database, since=since, account=account, by="day").totals.to_dict()["cost_usd"]
    return {
        "hour": {"limit": k["requests_per_hour"], "used": k["hourly_used"], "remaining": k["hourly_remaining"],
                 "reset_seconds": k["hourly_reset_seconds"]},
        "month": {"limit": a["monthly_calls"], "used": a["monthly_used"], "remaining": a["monthly_remaining"],
                  "reset_seconds": a["monthly_reset_seconds"]},
        "spend_month_usd": spend,
        "budget": {"key": k["budget"], "account": a["budget"]},
    }
