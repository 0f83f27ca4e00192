"""Budgets as every view shows them (CLI lists, `/v1/me`): limit, spent, held, left, reset.

Amounts are exact decimal text in USD. ``overshoot_usd`` is what calls cost beyond the
bound they reserved (see `store.budgets`): shown, never hidden.
"""

from __future__ import annotations

import time

from rich.text import Text

from aispendtrack.config import Config
from aispendtrack.limits import budget as rules
from aispendtrack.store.db import iso
from aispendtrack.store.reads.legacy import as_store
from aispendtrack.views.formats import fmt_duration, fmt_usd


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
    text = f"{fmt_usd(status['spent_usd'])} / {fmt_usd(status['limit_usd'])} {status['period']}{_pct(status)}"
    if status["overshoot_usd"] != "0":
        text += f" ⚠ {fmt_usd(status['overshoot_usd'])} over bounds"
    return text


def _pct(status: dict) -> str:
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


def budgets_table(entries: list[dict]):
    """`budget_entries` as the "budgets" block of `report` and `top`: spent / limit, a bar of
    the part spent, when it resets; None without any. Narrower, keys by name (their id when
    unnamed), the limit and its period in one cell, shorter headers."""
    from aispendtrack.views import lists, render

    if not entries:
        return None
    records = []
    for s in entries:
        spent, limit = rules.parse_usd(s["spent_usd"]), rules.parse_usd(s["limit_usd"])
        frac = min(1.0, spent / limit) if limit else 1.0
        style = "red" if frac >= 0.9 else "yellow" if frac >= 0.7 else "green"
        resets = fmt_duration(s["reset_seconds"]) if s["reset_seconds"] is not None else "never"
        over = fmt_usd(s["overshoot_usd"]) if s["overshoot_usd"] != "0" else ""
        records.append({
            "who": render.clean(who(s)), "name": render.clean(f"{s['scope']} {s['name'] or s['subject']}"),
            "spent": f"{fmt_usd(s['spent_usd'])}{_pct(s)}", "limit": fmt_usd(s["limit_usd"]), "period": s["period"],
            "of": f"{fmt_usd(s['limit_usd'])} {s['period']}", "": Text(render.bar(frac, 1, 10).ljust(10, "·"), style=style),
            "resets in": resets, "resets": resets, "over bounds": over, "over": over,
        })  # fmt: skip
    overs = ["over bounds"] if any(r["over"] for r in records) else []
    return lists.table(records, [
        ["who", "spent", "limit", "period", "", "resets in", *overs],
        ["name", "spent", "of", "", "resets", *(["over"] if overs else [])],
        ["name", "spent", "of", "", "resets"],
    ], title="budgets", right={"spent", "limit", "over bounds", "over"}, wrap={"who", "name", "of"})
