"""Saved reconciliations as `/v1/reconcile` and the dashboard show them: an account's share of
each provider's newest run (with its newest good one when the newest failed) and a run's rows.

Only an account's own share ever leaves here (`store.reconcile_runs`): its rows and figures,
never another account's rows nor provider usage attributed to no account. Money is exact
decimal text.
"""

from __future__ import annotations

from decimal import Decimal

from aispendtrack.reconcile.model import Row, Side
from aispendtrack.store.reconcile_runs import ReconcileRun
from aispendtrack.store.totals import canon
from aispendtrack.views.formats import fmt_usd


def latest(store, account: str) -> list[tuple[ReconcileRun, ReconcileRun | None]]:
    """(newest run, newest good run or None) per provider and run scope of `account`'s shares;
    the good one is the newest itself when that did not fail."""
    good = {(r.provider, r.account): r for r in store.latest_reconcile_runs(account, ok_only=True)}
    return [(r, good.get((r.provider, r.account))) for r in store.latest_reconcile_runs(account)]


def side_json(side: Side) -> dict:
    return {"input_tokens": side.input_tokens, "cached_tokens": side.cached_tokens,
            "output_tokens": side.output_tokens, "batch_tokens": side.batch_tokens, "requests": side.requests,
            "usd": str(side.usd)}


def row_json(row: Row) -> dict:
    return {"day": row.day.isoformat(), "model": row.model, "verdict": row.verdict, "note": row.note,
            "gateway": side_json(row.gateway), "provider": side_json(row.provider),
            "difference_usd": canon(row.provider.usd - row.gateway.usd)}


# ---- the dashboard ----------------------------------------------------------------------


def _period(run: ReconcileRun) -> str:
    return run.since.isoformat() if run.since == run.until else f"{run.since} to {run.until}"


def _money(value: Decimal | None) -> str:
    """The one money format of the pages (`views.formats`); the exact amount goes in `_exact`."""
    return fmt_usd(value)


def _exact(value: Decimal | None) -> str:
    return "" if value is None else f"${canon(value)}"


def summary(run: ReconcileRun, drift_usd: Decimal | None = None) -> dict:
    """One run as the card and the run's page show it; `drift` when its unexplained dollars are
    above `drift_usd` (`[reconcile] drift_usd`; None: any at all)."""
    return {"id": run.id, "provider": run.provider, "period": _period(run), "ran_at": run.ran_at[:19].replace("T", " "),
            "scope": f"account {run.account}" if run.account is not None else "every mapped account (your share)",
            "ok": run.status == "ok", "error": run.error,
            "matched": "—" if run.matched_pct is None else f"{run.matched_pct:g} %",
            "unexplained": _money(run.unexplained_usd),
            "unexplained_exact": _exact(run.unexplained_usd), "off_rows": run.off_rows, "notes": list(run.notes),
            "drift": run.unexplained_usd is not None and run.unexplained_usd > (drift_usd or 0),
            "href": f"/dashboard/reconcile/{run.id}"}


def cards(store, account: str, drift_usd: Decimal | None = None) -> list[dict]:
    """The reconciliation card's entries: each provider's newest run, and the newest good one
    when the newest failed (what was last known stays on the page)."""
    return [{"latest": summary(run, drift_usd),
             "good": summary(good, drift_usd) if good is not None and good.id != run.id else None}
            for run, good in latest(store, account)]


def _tokens(side: Side) -> str:
    return f"{side.input_tokens:,} / {side.cached_tokens:,} / {side.output_tokens:,}"


def row_view(row: Row) -> dict:
    return {"day": row.day.isoformat(), "model": row.model, "verdict": row.verdict, "note": row.note,
            "gateway_tokens": _tokens(row.gateway), "provider_tokens": _tokens(row.provider),
            "gateway_usd": _money(row.gateway.usd), "provider_usd": _money(row.provider.usd),
            "difference": _money(row.provider.usd - row.gateway.usd), "gateway_usd_exact": _exact(row.gateway.usd),
            "provider_usd_exact": _exact(row.provider.usd),
            "difference_exact": _exact(row.provider.usd - row.gateway.usd), "off": row.verdict != "matches"}


def run_page(store, run: ReconcileRun, account: str, drift_usd: Decimal | None = None) -> dict:
    """`account`'s share of a run: its summary, then its rows, the ones that do not match first."""
    rows, _ = store.reconcile_run_rows(run.id, account)
    views = [row_view(r) for r in rows]
    return {"run": summary(run, drift_usd), "off": [v for v in views if v["off"]], "matching": [v for v in views if not v["off"]]}
