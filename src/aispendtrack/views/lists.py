"""The tables of `accounts list`, `keys list`, `webhooks list` and `webhooks deliveries`.

Each is built as records (column header → cell) and offered in layouts from the full one
to compact ones — shorter headers, low-value columns dropped, related cells merged into one
cell of two lines — before `tables.fitted` falls back to one block per row. Names and ids
are never cut: a compact layout is used only if every one fits whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType
from rich.text import Text

from aispendtrack.views import render
from aispendtrack.limits import budget as rules
from aispendtrack.views.budgets import spent_pct, fmt_budget, who
from aispendtrack.views.formats import fmt_duration, fmt_time, fmt_usd
from aispendtrack.views.tables import fitted
from aispendtrack.views.usage import fmt_limit, fmt_used

Cell = str | Text


def table(records: list[dict[str, Cell]], layouts: Sequence[Sequence[str]], *, title: str | None = None,
          right: set[str] = frozenset(), wrap: set[str] = frozenset()) -> RenderableType:
    """`records` in the first of `layouts` (lists of headers) that fits, else in blocks of
    the first one's columns."""
    full, *compact = [(list(cols), [[r[c] for c in cols] for r in records]) for cols in layouts]
    return fitted(*full, title=title, right=right, wrap=wrap, compact=compact)


def _lines(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def accounts_table(rows: list[dict]) -> RenderableType:
    """`accounts list`: one line per account; the month's reset (the same for every
    account) in the title."""
    records = []
    for r in rows:
        calls = fmt_used(r["monthly_used"], r["monthly_calls"])
        records.append({
            "account": render.clean(r["name"]), "tier": r["tier"], "keys": str(r["active_keys"]),
            "requests/hour per key": fmt_limit(r["requests_per_hour"]), "req/h\nper key": fmt_limit(r["requests_per_hour"]),
            "calls this month": calls, "budget": fmt_budget(r["budget"]),
        })  # fmt: skip
    title = f"month's calls reset in {fmt_duration(rows[0]['monthly_reset_seconds'])}" if rows else None
    return table(records, [
        ["account", "tier", "keys", "requests/hour per key", "calls this month", "budget"],
        ["account", "tier", "keys", "req/h\nper key", "calls this month", "budget"],
    ], title=title, right={"keys"}, wrap={"calls this month", "budget"})


def _key_state(r: dict) -> str:
    return r["state"] + (" (old secret in grace)" if r["in_grace"] else "") + (", rotate it" if r["rotation_due"] else "")


def keys_table(rows: list[dict]) -> RenderableType:
    """`keys list`: everything in one line per key where it fits; narrower, the key's id,
    name and (unless plain "active") state in one cell, its account and member in another."""
    records = []
    for r in rows:
        name, account, member = render.clean(r["name"] or ""), render.clean(r["account"]), render.clean(r["member"] or "")
        state = _key_state(r)
        records.append({
            "id": r["id"], "account": account, "member": member, "name": name, "key": r["hint"], "state": state,
            "permissions": ", ".join(r["permissions"]),
            "models": render.clean(", ".join(r["models"])) if r["models"] is not None else "any",
            "tags": render.clean(", ".join(f"{k}={v}" for k, v in (r.get("tags") or {}).items())),
            "requests this hour": fmt_used(r["hourly_used"], r["requests_per_hour"]),
            "resets in": fmt_duration(r["hourly_reset_seconds"]), "budget": fmt_budget(r["budget"]),
            "last used": fmt_time(r["last_used"], none="never"),
            "key / name": _lines(r["id"], name, "" if state == "active" else state),
            "account\nmember": _lines(account, member), "this hour": fmt_used(r["hourly_used"], r["requests_per_hour"]),
        })  # fmt: skip
    return table(records, [
        ["id", "account", "member", "name", "key", "state", "permissions", "models", "tags", "requests this hour",
         "resets in", "budget", "last used"],
        ["id", "name", "account", "member", "state", "permissions", "models", "tags", "this hour", "budget",
         "last used"],
        ["key / name", "account\nmember", "this hour", "budget", "last used"],
    ], wrap={"permissions", "models", "tags", "requests this hour", "this hour", "budget", "last used", "state"})


def endpoints_table(endpoints: list) -> RenderableType:
    """`webhooks list`: never a secret; narrower, id, state, account and URL in one cell."""
    records = []
    for e in endpoints:
        state = e.state + (f"; previous secret signs until {fmt_time(e.previous_secret_until)}"
                           if e.previous_secret_until else "")
        account, url = render.clean(e.account), render.clean(e.url, 200)
        events = ", ".join(e.events) if e.events else "all"
        old = f"old secret until {fmt_time(e.previous_secret_until)}" if e.previous_secret_until else ""
        records.append({
            "id": e.id, "account": account, "url": url, "events": events, "state": state,
            "endpoint": _lines(f"{e.id} {e.state}", account, url, old),
            "endpoint and its events": _lines(f"{e.id} {e.state}", account, url, f"events: {events}", old),
        })  # fmt: skip
    return table(records, [["id", "account", "url", "events", "state"], ["endpoint", "events"],
                           ["endpoint and its events"]], wrap={"events", "state", "endpoint and its events"})


def deliveries_table(attempts: list) -> RenderableType:
    """`webhooks deliveries`: newest first; narrower, message id and event in one cell."""
    records = []
    for a in attempts:
        records.append({
            "time": fmt_time(a.ts), "message": a.message_id, "event": a.type or "", "status": str(a.status or ""),
            "error": render.clean(a.error or ""), "ms": "" if a.duration_ms is None else f"{a.duration_ms:,}",
            "message state": f"{a.state} after {a.attempts}", "message / event": _lines(a.message_id, a.type or ""),
        })  # fmt: skip
    return table(records, [
        ["time", "message", "event", "status", "error", "ms", "message state"],
        ["time", "message / event", "status", "error", "ms", "message state"],
        ["time", "message / event", "status", "error", "message state"],
    ], right={"status", "ms"}, wrap={"time", "error", "message state"})


def budgets_table(entries: list[dict]):
    """`budget_entries` as the "budgets" block of `report` and `top`: spent / limit, a bar of
    the part spent, when it resets; None without any. Narrower, keys by name (their id when
    unnamed), the limit and its period in one cell, shorter headers."""
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
            "spent": f"{fmt_usd(s['spent_usd'])}{spent_pct(s)}", "limit": fmt_usd(s["limit_usd"]), "period": s["period"],
            "of": f"{fmt_usd(s['limit_usd'])} {s['period']}", "": Text(render.bar(frac, 1, 10).ljust(10, "·"), style=style),
            "resets in": resets, "resets": resets, "over bounds": over, "over": over,
        })  # fmt: skip
    overs = ["over bounds"] if any(r["over"] for r in records) else []
    return table(records, [
        ["who", "spent", "limit", "period", "", "resets in", *overs],
        ["name", "spent", "of", "", "resets", *(["over"] if overs else [])],
        ["name", "spent", "of", "", "resets"],
    ], title="budgets", right={"spent", "limit", "over bounds", "over"}, wrap={"who", "name", "of"})
