"""Budgets as every view shows them (CLI lists, `/v1/me`): limit, spent, held, left, reset.

Amounts are exact decimal text in USD. ``overshoot_usd`` is what calls cost beyond the
bound they reserved (see `store.budgets`): shown, never hidden.
"""

from __future__ import annotations

import time


from aispendtrack.config import Config
from aispendtrack.limits import budget as rules
from aispendtrack.store.db import iso
from aispendtrack.store.reads.legacy import as_store
from aispendtrack.views.formats import fmt_usd


def effective(store, config: Config, scope: str, subject: str, tier: str | None = None) -> tuple[rules.Budget, str] | None:
    """The budget in force and where it comes from ("own" or "tier"); None without one."""
    b = store.get_budget(scope, subject)
    if b is not None:
        return b, "own"
    if scope == "account" and tier is not None and (t := config.tier(tier)).budget_usd is not None:
        return rules.Budget("account", subject, rules.to_nano(t.budget_usd), t.budget_period), "tier"
    return None


def budget_status(store, config: Config, scope: str, subject: str, tier: str | None = None,
                  now: float | None = None) -> dict | None:
    store = as_store(store)
    found = effective(store, config, scope, subject, tier)
    if found is None:
        return None
    b, source = found
    now = time.time() if now is None else now
    s = store.budget_standing(b, now=now)
    return {
        "limit_usd": rules.usd_text(b.limit_nano),
        "period": b.period,
        "period_key": s.period_key[1:] or "total",
        "spent_usd": rules.usd_text(s.spent_nano),
        "reserved_usd": rules.usd_text(s.reserved_nano),
        "remaining_usd": rules.usd_text(s.remaining_nano),
        "overshoot_usd": rules.usd_text(s.overshoot_nano),
        "reset_seconds": rules.reset_seconds(b.period, now),
        "source": source,
    }


def fmt_budget(status: dict | None) -> str:
    """"$1.20 / $5.00 month (24%)" for a table cell; "—" without a budget."""
    if status is None:
        return "—"
    text = f"{fmt_usd(status['spent_usd'])} / {fmt_usd(status['limit_usd'])} {status['period']}{spent_pct(status)}"
    if status["overshoot_usd"] != "0":
        text += f" ⚠ {fmt_usd(status['overshoot_usd'])} over bounds"
    return text


def spent_pct(status: dict) -> str:
    spent, limit = rules.parse_usd(status["spent_usd"]), rules.parse_usd(status["limit_usd"])
    return f" ({spent * 100 // limit}%)" if limit else ""


def budget_entries(store, config: Config, now: float | None = None, account: str | None = None,
                   member: str | None = None) -> list[dict]:
    """Every budget in force (own or its tier's) of every account (or only `account`) and of
    its active keys (or only `member`'s keys), accounts first: `scope` ("account" or "key"),
    `subject` (account name or key id), `account`, `name` (the key's label) and `budget_status`."""
    store = as_store(store)
    now = time.time() if now is None else now
    own = store.budgeted_subjects()
    rows = []
    for a in store.list_accounts():
        if account is not None and a.name != account:
            continue
        if ("account", a.name) in own or config.tier(a.tier).budget_usd is not None:
            rows.append({"scope": "account", "subject": a.name, "account": a.name, "name": None,
                         **budget_status(store, config, "account", a.name, a.tier, now)})
    now_iso = iso(now)
    for k in store.list_keys():
        if ("key", k.id) in own and k.state(now_iso) == "active" and account in (None, k.account) \
                and member in (None, k.member):
            rows.append({"scope": "key", "subject": k.id, "account": k.account, "name": k.name,
                         **budget_status(store, config, "key", k.id, now=now)})
    return rows


def who(entry: dict) -> str:
    """How a table names a `budget_entries` row: "account acme (tier)", "key key_… laptop"."""
    if entry["scope"] == "account":
        return f"account {entry['subject']}" + (" (tier)" if entry["source"] == "tier" else "")
    return f"key {entry['subject']}" + (f" {entry['name']}" if entry["name"] else "")
