"""What the dashboard shows for one account, as plain values for the template and the
JSON the page polls. Money is the report's exact decimal text; unknown stays "—".

`member_id` scopes it as the API's role rules do (`serve.roles`, `routers.usage.own`):
None (owner/admin) = the whole account, with spend per member; a member id = only that
member's keys and their calls (the account's own quota and budget rows stay: they bind
every key).

`period` is what the page shows (`views.daterange.DayRange`, whole UTC days; default
this month): every spend, count, breakdown, the chart and the latest calls are of it; `tag`
(name, value) keeps only the calls with that tag. The limits are where they stand now.

Spend and counts come from counters and daily sums (`store.report_groups` answers whole days
from them), so they cost the same on a ledger of a million rows as on an empty one; a tag
filter, a tag breakdown and the latency percentiles read the period's ledger rows (the sums
keep neither tags nor durations)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, time as dtime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from aispendtrack.config import Config
from aispendtrack.store.db import iso
from aispendtrack.store.keys import account_limits
from aispendtrack.store.reads.legacy import as_store
from aispendtrack.store.totals import Stats, canon
from aispendtrack.views.budgets import budget_status
from aispendtrack.views.daterange import DayRange, preset
from aispendtrack.views.latency import fmt_ms, latency_by
from aispendtrack.views.members import member_rows
from aispendtrack.views.report import Report, report
from aispendtrack.views.formats import fmt_duration, fmt_int as count, fmt_time, fmt_usd
from aispendtrack.views.usage import account_month, key_hour, reset_seconds

if TYPE_CHECKING:
    from aispendtrack.store.keycache import KeyRecord

CHART_DAYS = 30
LATEST = 20


def money(value) -> str:
    """Dollars as every screen writes them (`views.formats`); the exact amount is `exact`'s,
    which the page puts in `title` attributes."""
    return fmt_usd(value)


def exact(value) -> str:
    return f"${value}"


def key_labels(keys: list, member_id: int | None = None) -> dict[str, str]:
    """key id → "name (ask_…abcd)" of the account's `keys`: what a person recognises; never
    the key. Only the member's keys with `member_id`."""
    return {k.id: f"{k.name or k.id} ({k.hint})" for k in keys if member_id is None or k.member_id == member_id}


def spend(st: Stats) -> str:
    """The priced spend; "not priced" when no call of the set had a price (never a bare $0)."""
    if not st.priced_calls and (st.unpriced_calls or st.unmetered_calls):
        return "not priced"
    if not st.priced_calls and st.local_calls:
        return f"{money(0)} (local)"
    return money(st.to_dict()["cost_usd"])


def unpriced_note(st: Stats) -> str:
    parts = [f"{n:,} {what}" for n, what in ((st.unpriced_calls, "unpriced"), (st.unmetered_calls, "unmetered"))
             if n]
    note = f"+ {' and '.join(parts)} call{'s' if st.unpriced_calls + st.unmetered_calls > 1 else ''} not in this sum" \
        if parts else ""
    if st.local_calls:
        local = f"{st.local_calls:,} local call{'s' if st.local_calls > 1 else ''} at $0"
        note = f"{note} · {local}" if note else local
    return note


def stats_row(label: str, st: Stats) -> dict:
    return {"label": label, "cost": spend(st), "cost_exact": exact(st.to_dict()["cost_usd"]), "calls": count(st.calls),
            "input": count(st.input_tokens), "cached": count(st.cache_read_tokens),
            "output": count(st.output_tokens), "reasoning": count(st.reasoning_tokens),
            "unpriced": st.unpriced_calls, "unmetered": st.unmetered_calls, "local": st.local_calls}


def _window(name: str, used: int, limit: int | None, reset: int | None) -> dict:
    hit = limit is not None and used >= limit
    if limit is None:
        state = "unlimited"
    elif hit:
        state = f"limit reached: next request admitted in {fmt_duration(reset)}"
    else:
        state = f"{limit - used:,} left"
    return {"name": name, "used": f"{used:,}", "limit": "unlimited" if limit is None else f"{limit:,}",
            "reset": "—" if limit is None else fmt_duration(reset), "state": state, "hit": hit}


def _budget(name: str, b: dict) -> dict:
    left = Decimal(b["remaining_usd"])
    state = f"{money(b['remaining_usd'])} left" if left > 0 else "budget reached: calls are refused until it resets"
    if b["overshoot_usd"] != "0":
        state += f" ({money(b['overshoot_usd'])} spent beyond calls' reservations)"
    return {"name": f"{name}: {b['period']} budget ({b['period_key']})", "used": money(b["spent_usd"]),
            "used_exact": exact(b["spent_usd"]), "limit": money(b["limit_usd"]), "limit_exact": exact(b["limit_usd"]), "reset": "never" if b["reset_seconds"] is None else fmt_duration(b["reset_seconds"]),
            "state": state, "hit": left <= 0}


def limits(store, cfg: Config, account: str, labels: dict[str, str], now: float, *,
           every_key: bool = True, keys: list | None = None) -> list[dict]:
    """The account's month and budget, then each active key's hour and budget (only the keys
    in `labels` unless `every_key`): used, limit, when the next request is admitted. `keys`:
    the account's keys when the caller has read them already."""
    acct = store.get_account(account)
    rph, monthly = account_limits(acct, cfg)
    month = account_month(store, account, rph, monthly, now)
    rows = [_window(f"account {account}: this month", month.used, monthly, reset_seconds(month.resets_at, now))]
    if (b := budget_status(store, cfg, "account", account, acct.tier, now)) is not None:
        rows.append(_budget(f"account {account}", b))
    now_iso = iso(now)
    for k in store.list_keys(account) if keys is None else keys:
        if k.state(now_iso) == "active" and (every_key or k.id in labels):
            label = labels.get(k.id, k.id)
            hour = key_hour(store, k.id, rph, monthly, now)
            rows.append(_window(f"key {label}: last hour", hour.used, rph, reset_seconds(hour.resets_at, now)))
            if (b := budget_status(store, cfg, "key", k.id, now=now)) is not None:
                rows.append(_budget(f"key {label}", b))
    return rows


def latest(store, account: str, labels: dict[str, str], n: int = LATEST, member_id: int | None = None,
           period: DayRange | None = None, tag: tuple[str, str] | None = None) -> list[dict]:
    return [{"time": fmt_time(c.ts), "key": labels.get(c.key_id, c.key_hint or "—"),
             "model": c.model or "—", "status": f"{c.status} {c.outcome}", "input": count(c.input_tokens),
             "cached": count(c.cache_read_tokens), "output": count(c.output_tokens),
             "reasoning": count(c.reasoning_tokens),
             "cost": f"{money(0)} (local)" if c.pricing == "local"
             else money(c.cost_usd) if c.cost_usd is not None else (c.pricing or "—"),
             "cost_exact": exact(c.cost_usd) if c.cost_usd is not None else "",
             "streamed": "yes" if c.streamed else "no"}
            for c in store.latest_calls(n, account=account, member_id=member_id, since=period and period.since,
                                        until=period and period.until, tag=tag)]


def chart(days: list[tuple[str, Stats]]) -> dict:
    """Bars of the daily spend, in SVG user units (the template draws them)."""
    most = max((st.cost_usd for _, st in days), default=Decimal(0))
    top = most or 1
    step = 600 / max(len(days), 30)  # 30 bars fill the width; a longer period gets thinner bars
    bars = []
    for i, (day, st) in enumerate(days):
        h = round(float(st.cost_usd / top) * 100, 2)
        bars.append({"x": round(i * step + step / 10, 2), "w": round(step * 0.8, 2), "y": round(110 - h, 2), "h": h,
                     "day": day, "cost": exact(st.to_dict()["cost_usd"])})
    # the last day's label under the last bar's end (a short period leaves the width's rest empty),
    # never closer to the first label than it fits
    return {"bars": bars, "top": money(canon(most)), "first": days[0][0] if days else "",
            "last": days[-1][0] if len(days) > 1 else "", "last_x": max(200, round(len(days) * step, 2))}


def days(store, account: str, first: date, last: date, by: str, member_id: int | None = None,
         tag: tuple[str, str] | None = None) -> Report:
    """The report of `account` (only `member_id`'s keys, only calls tagged `tag`) for the
    whole UTC days [first, last]; a daily series only by day."""
    since = datetime.combine(first, dtime(), UTC)
    until = datetime.combine(last + timedelta(days=1), dtime(), UTC)
    return report(store, since=since, until=until, by=by, account=account, member_id=member_id, per_day=by == "day",
                  tag=tag)


def live(store, cfg: Config, record: KeyRecord, now: float | None = None, member_id: int | None = None,
         period: DayRange | None = None, tag: tuple[str, str] | None = None) -> dict:
    """What the page refreshes while open: spend, counts, limits and the latest calls of
    `period` (default this month)."""
    store = as_store(store)
    now = time.time() if now is None else now
    today = datetime.fromtimestamp(now, UTC).date()
    period = period or preset("month", today)
    daily = days(store, record.account, today - timedelta(days=CHART_DAYS - 1), today, "day", member_id, tag)
    month = days(store, record.account, period.first, period.last, "day", member_id, tag)
    keys = store.list_keys(record.account)  # one read for the labels and the limits
    labels = key_labels(keys, member_id)
    t = month.totals
    return {
        "period_label": period.label,
        **_figures(t.to_dict()["cost_usd"], _day(daily.daily, today).to_dict()["cost_usd"],
                   daily.totals.to_dict()["cost_usd"]),
        "spend_note": unpriced_note(t),
        "counts": {"calls": count(t.calls), "priced": count(t.priced_calls), "unpriced": count(t.unpriced_calls),
                   "unmetered": count(t.unmetered_calls), "local": count(t.local_calls), "rejected": count(t.rejected),
                   "limited": count(t.rate_limited + t.quota_exceeded), "budget_exceeded": count(t.budget_exceeded),
                   "forbidden": count(t.forbidden), "errors": count(t.errors)},
        "limits": limits(store, cfg, record.account, labels, now, every_key=member_id is None, keys=keys),
        "latest": latest(store, record.account, labels, member_id=member_id, period=period, tag=tag),
        "updated": datetime.fromtimestamp(now, UTC).strftime("%H:%M:%S UTC"),
        "_daily": month.daily,
        "_labels": labels,
    }


def _figures(month: str, today: str, last30: str) -> dict:
    """The three spend figures, as shown and exact (their `title`)."""
    out = {}
    for name, value in (("spend_month", month), ("spend_today", today), ("spend_30d", last30)):
        out |= {name: money(value), f"{name}_exact": exact(value)}
    return out


def _day(days: list[tuple[str, Stats]], day: date) -> Stats:
    return next((st for d, st in days if d == day.isoformat()), Stats())


def page(store, cfg: Config, record: KeyRecord, now: float | None = None, member_id: int | None = None,
         period: DayRange | None = None, tag: tuple[str, str] | None = None, tag_by: str | None = None) -> dict:
    """Everything the first render shows: `live` plus the period per model, per key (and per
    member, for the whole account; per value of tag `tag_by` when asked), their latency and
    the chart."""
    store = as_store(store)
    now = time.time() if now is None else now
    today = datetime.fromtimestamp(now, UTC).date()
    period = period or preset("month", today)
    data = live(store, cfg, record, now, member_id, period, tag)
    first, last = period.first, period.last
    by_model = days(store, record.account, first, last, "model", member_id, tag)
    by_key = days(store, record.account, first, last, "key", member_id, tag)
    lat = latency_by(store, ("model", "key"), since=period.since, until=period.until, account=record.account,
                     member_id=member_id, tag=tag)  # one read of the period's rows for both
    (by_model.latency, by_model.latency_total), (by_key.latency, by_key.latency_total) = lat["model"], lat["key"]
    labels = data.pop("_labels")
    data["chart"] = chart(data.pop("_daily"))
    data["by_model"] = [stats_row(g.key or "(unknown model)", g.stats) for g in by_model.groups]
    data["by_key"] = [stats_row(labels.get(g.key, g.key or "(no key)"), g.stats) for g in by_key.groups]
    data["latency"] = latency_rows(by_model, by_key, labels)
    data["by_tag"] = None
    if tag_by is not None:
        by_tag = days(store, record.account, first, last, tag_by, member_id, tag)
        data["by_tag"] = [stats_row("(no tag)" if g.key is None else str(g.key), g.stats) for g in by_tag.groups]
    data["tag_name"] = None if tag_by is None else tag_by[4:]
    data["month_name"] = period.label
    if member_id is None:
        by_member = days(store, record.account, first, last, "member", tag=tag)
        data["by_member"] = [
            {"member": m["member"], "role": m["role"], "active_keys": count(m["active_keys"]),
             "cost": money(m["cost_usd"]), "cost_exact": exact(m["cost_usd"]), "calls": count(m["calls"])}
            for m in member_rows(store, record.account, by_member.groups)]
    else:
        data["by_member"] = None
    return data


def latency_rows(by_model: Report, by_key: Report, labels: dict[str, str]) -> list[dict]:
    """Per model, then per key: p50/p95 of the total and of streams' first byte (`views.latency`)."""
    rows = []
    for kind, rep, name in (("model", by_model, lambda k: k or "(unknown model)"),
                            ("key", by_key, lambda k: labels.get(k, k or "(no key)"))):
        for g in rep.groups:
            lat = rep.group_latency(g.key)
            rows.append({"kind": kind, "label": name(g.key), "calls": count(lat.calls), "p50": fmt_ms(lat.p50_ms),
                         "p95": fmt_ms(lat.p95_ms), "streams": count(lat.streams),
                         "ttfb_p50": fmt_ms(lat.ttfb_p50_ms), "ttfb_p95": fmt_ms(lat.ttfb_p95_ms),
                         "exact": lat.to_dict()})
    return rows


def public(data: dict) -> dict:
    """`live` without its private parts, for the JSON the page polls."""
    return {k: v for k, v in data.items() if not k.startswith("_")}
