"""What the dashboard shows for one account, as plain values for the template and the
JSON the page polls. Money is the report's exact decimal text; unknown stays "—".

`member_id` scopes it as the API's role rules do (`serve.roles`, `routers.usage.own`):
None (owner/admin) = the whole account, with spend per member; a member id = only that
member's keys and their calls (the account's own quota and budget rows stay: they bind
every key)."""

from __future__ import annotations

import math
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from aispendtrack.config import Config
from aispendtrack.store import keys as keystore
from aispendtrack.store.db import iso
from aispendtrack.store.keycache import KeyRecord
from aispendtrack.views import rollup
from aispendtrack.store.totals import Stats, canon
from aispendtrack.views.budgets import budget_status
from aispendtrack.views.members import member_rows
from aispendtrack.views.report import MEMBER_KEYS
from aispendtrack.views.usage import account_month, fmt_reset, key_hour

CHART_DAYS = 30
LATEST = 20
_LATEST_SQL = """SELECT ts, key_id, key_hint, model, status, outcome, streamed, input_tokens, cache_read_tokens,
                 output_tokens, reasoning_tokens, cost_usd, pricing FROM calls WHERE account = ? {member}
                 ORDER BY ts DESC, id DESC LIMIT ?"""


def money(value) -> str:
    return f"${value}"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def key_labels(db, account: str, member_id: int | None = None) -> dict[str, str]:
    """key id → "name (ask_…abcd)": what a person recognises; never the key. Only the
    member's keys with `member_id`."""
    mine = None if member_id is None else {r[0] for r in db.execute(
        "SELECT id FROM keys WHERE member_id = ?", [member_id]).fetchall()}
    return {k["id"]: f"{k['name'] or k['id']} ({k['hint']})" for k in keystore.list_keys(db, account)
            if mine is None or k["id"] in mine}


def spend(st: Stats) -> str:
    """The priced spend; "not priced" when no call of the set had a price (never a bare $0)."""
    if not st.priced_calls and (st.unpriced_calls or st.unmetered_calls):
        return "not priced"
    return money(st.to_dict()["cost_usd"])


def unpriced_note(st: Stats) -> str:
    parts = [f"{n:,} {what}" for n, what in ((st.unpriced_calls, "unpriced"), (st.unmetered_calls, "unmetered"))
             if n]
    return f"+ {' and '.join(parts)} call{'s' if st.unpriced_calls + st.unmetered_calls > 1 else ''} not in this sum" \
        if parts else ""


def stats_row(label: str, st: Stats) -> dict:
    return {"label": label, "cost": spend(st), "calls": count(st.calls),
            "input": count(st.input_tokens), "cached": count(st.cache_read_tokens),
            "output": count(st.output_tokens), "reasoning": count(st.reasoning_tokens),
            "unpriced": st.unpriced_calls, "unmetered": st.unmetered_calls}


def _window(name: str, used: int, limit: int | None, reset: int | None) -> dict:
    hit = limit is not None and used >= limit
    if limit is None:
        state = "unlimited"
    elif hit:
        state = f"limit reached: next request admitted in {fmt_reset(reset)}"
    else:
        state = f"{limit - used:,} left"
    return {"name": name, "used": f"{used:,}", "limit": "unlimited" if limit is None else f"{limit:,}",
            "reset": "—" if limit is None else fmt_reset(reset), "state": state, "hit": hit}


def _budget(name: str, b: dict) -> dict:
    left = Decimal(b["remaining_usd"])
    state = f"${b['remaining_usd']} left" if left > 0 else "budget reached: calls are refused until it resets"
    if b["overshoot_usd"] != "0":
        state += f" (${b['overshoot_usd']} spent beyond calls' reservations)"
    return {"name": f"{name}: {b['period']} budget ({b['period_key']})", "used": f"${b['spent_usd']}",
            "limit": f"${b['limit_usd']}", "reset": "never" if b["reset_seconds"] is None else fmt_reset(b["reset_seconds"]),
            "state": state, "hit": left <= 0}


def limits(db, cfg: Config, account: str, labels: dict[str, str], now: float, *, every_key: bool = True) -> list[dict]:
    """The account's month and budget, then each active key's hour and budget (only the keys
    in `labels` unless `every_key`): used, limit, when the next request is admitted."""
    acct = keystore.get_account(db, account)
    rph, monthly = keystore.account_limits(acct, cfg)
    month = account_month(db, account, rph, monthly, now)
    rows = [_window(f"account {account}: this month", month.used, monthly, _seconds(month.resets_at, now))]
    if (b := budget_status(db, cfg, "account", account, acct["tier"], now)) is not None:
        rows.append(_budget(f"account {account}", b))
    now_iso = iso(now)
    for k in keystore.list_keys(db, account):
        if keystore.key_state(k, now_iso) == "active" and (every_key or k["id"] in labels):
            label = labels.get(k["id"], k["id"])
            hour = key_hour(db, k["id"], rph, monthly, now)
            rows.append(_window(f"key {label}: last hour", hour.used, rph, _seconds(hour.resets_at, now)))
            if (b := budget_status(db, cfg, "key", k["id"], now=now)) is not None:
                rows.append(_budget(f"key {label}", b))
    return rows


def _seconds(at: float | None, now: float) -> int | None:
    return None if at is None else max(1, math.ceil(at - now))


def latest(db, account: str, labels: dict[str, str], n: int = LATEST, member_id: int | None = None) -> list[dict]:
    out = []
    if member_id is None:
        sql, params = _LATEST_SQL.format(member=""), [account, n]
    else:
        sql, params = _LATEST_SQL.format(member="AND " + MEMBER_KEYS), [account, member_id, n]
    for r in db.execute(sql, params).fetchall():
        ts, key_id, hint, model, status, outcome, streamed, inp, cached, outp, reasoning, cost, pricing = r
        out.append({"time": ts[:19].replace("T", " "), "key": labels.get(key_id, hint or "—"), "model": model or "—",
                    "status": f"{status} {outcome}", "input": count(inp), "cached": count(cached),
                    "output": count(outp), "reasoning": count(reasoning),
                    "cost": money(cost) if cost is not None else (pricing or "—"),
                    "streamed": "yes" if streamed else "no"})
    return out


def chart(days: list[tuple[str, Stats]]) -> dict:
    """Bars of the daily spend, in SVG user units (the template draws them)."""
    most = max((st.cost_usd for _, st in days), default=Decimal(0))
    top = most or 1
    bars = []
    for i, (day, st) in enumerate(days):
        h = round(float(st.cost_usd / top) * 100, 2)
        bars.append({"x": i * 20 + 2, "y": round(110 - h, 2), "h": h, "day": day, "cost": money(st.to_dict()["cost_usd"])})
    return {"bars": bars, "top": money(canon(most)),
            "first": days[0][0] if days else "", "last": days[-1][0] if days else ""}


def live(db, cfg: Config, record: KeyRecord, now: float | None = None, member_id: int | None = None) -> dict:
    """What the page refreshes while open: spend, counts, limits and the latest calls."""
    now = time.time() if now is None else now
    rollup.catch_up(db)
    today = datetime.fromtimestamp(now, UTC).date()
    daily = rollup.report_from_days(db, record.account, today - timedelta(days=CHART_DAYS - 1), today, "day",
                                    member_id)
    month = rollup.report_from_days(db, record.account, today.replace(day=1), today, "day", member_id)
    labels = key_labels(db, record.account, member_id)
    t = month.totals
    return {
        "spend_month": money(t.to_dict()["cost_usd"]),
        "spend_today": money(_day(daily.daily, today).to_dict()["cost_usd"]),
        "spend_30d": money(daily.totals.to_dict()["cost_usd"]),
        "spend_note": unpriced_note(t),
        "counts": {"calls": count(t.calls), "priced": count(t.priced_calls), "unpriced": count(t.unpriced_calls),
                   "unmetered": count(t.unmetered_calls), "rejected": count(t.rejected),
                   "limited": count(t.rate_limited + t.quota_exceeded), "budget_exceeded": count(t.budget_exceeded),
                   "forbidden": count(t.forbidden), "errors": count(t.errors)},
        "limits": limits(db, cfg, record.account, labels, now, every_key=member_id is None),
        "latest": latest(db, record.account, labels, member_id=member_id),
        "updated": datetime.fromtimestamp(now, UTC).strftime("%H:%M:%S UTC"),
        "_daily": daily.daily,
        "_labels": labels,
    }


def _day(days: list[tuple[str, Stats]], day: date) -> Stats:
    return next((st for d, st in days if d == day.isoformat()), Stats())


def page(db, cfg: Config, record: KeyRecord, now: float | None = None, member_id: int | None = None) -> dict:
    """Everything the first render shows: `live` plus the month per model, per key (and per
    member, for the whole account) and the chart."""
    now = time.time() if now is None else now
    data = live(db, cfg, record, now, member_id)
    today = datetime.fromtimestamp(now, UTC).date()
    first = today.replace(day=1)
    by_model = rollup.report_from_days(db, record.account, first, today, "model", member_id)
    by_key = rollup.report_from_days(db, record.account, first, today, "key", member_id)
    labels = data.pop("_labels")
    data["chart"] = chart(data.pop("_daily"))
    data["by_model"] = [stats_row(g.key or "(unknown model)", g.stats) for g in by_model.groups]
    data["by_key"] = [stats_row(labels.get(g.key, g.key or "(no key)"), g.stats) for g in by_key.groups]
    data["month_name"] = first.strftime("%B %Y")
    if member_id is None:
        by_member = rollup.report_from_days(db, record.account, first, today, "member")
        data["by_member"] = [
            {"member": m["member"], "role": m["role"], "active_keys": count(m["active_keys"]),
             "cost": money(m["cost_usd"]), "calls": count(m["calls"])}
            for m in member_rows(db, record.account, by_member.groups)]
    else:
        data["by_member"] = None
    return data


def public(data: dict) -> dict:
    """`live` without its private parts, for the JSON the page polls."""
    return {k: v for k, v in data.items() if not k.startswith("_")}
