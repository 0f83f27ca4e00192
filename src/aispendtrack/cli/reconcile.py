"""`aispendtrack reconcile openai|anthropic`: the ledger against the provider's own bill.

The admin key comes from the environment variable named in config or from the vault
(`providers set ACCOUNT PROVIDER --admin`), never from the command line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import click
from rich.table import Table

from aispendtrack.cli import common
from aispendtrack.reconcile.model import Report, Row, report_json
from aispendtrack.reconcile.run import ReconcileError, reconcile
from aispendtrack.reconcile.schedule import scope_accounts
from aispendtrack.views.render import safe

_COLOR = {"matches": "green", "gateway under": "red", "gateway over": "yellow", "provider only": "red",
          "gateway only": "yellow", "unattributed": "magenta"}


def _day(ctx, param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a UTC day as YYYY-MM-DD, got {value!r}") from None


@click.command("reconcile")
@click.argument("provider", type=click.Choice(["openai", "anthropic"]))
@click.option("--since", callback=_day, help="First UTC day (YYYY-MM-DD). Default: the 7 days ending with --until.")
@click.option("--until", callback=_day, help="Last UTC day, included (YYYY-MM-DD). Default: yesterday (UTC).")
@click.option("--account", default=None, help="Only this account's rows (needs its provider scope mapped).")
@click.option("--base-url", default=None, help="The provider's API root (default: [reconcile.PROVIDER] base_url).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--save", is_flag=True,
              help="Keep the result for the dashboard and /v1/reconcile (and send reconcile.drift past [reconcile] "
                   "drift_usd), as the daily schedule does.")
@click.pass_context
def reconcile_command(ctx: click.Context, provider: str, since: date | None, until: date | None,
                      account: str | None, base_url: str | None, as_json: bool, save: bool) -> None:
    """Compare the ledger with PROVIDER's usage and cost report, per UTC day and model."""
    today = datetime.now(UTC).date()
    until = until or today - timedelta(days=1)
    since = since or until - timedelta(days=6)
    config = common.load_config(ctx)
    store = common.open_store(ctx)
    with common.store_errors():
        try:
            report = reconcile(config, store, provider, since, until, account, base_url=base_url)
        except ReconcileError as e:
            raise click.ClickException(str(e)) from None
        run_id = store.save_reconcile(report, accounts=scope_accounts(config, provider),
                                      drift_usd=config.reconcile.drift_usd) if save else None
    if as_json:
        common.emit_json({**report_json(report), **({"run_id": run_id} if save else {})})
    else:
        _print(report)
        if save:
            common.console.print(f"Saved as run {run_id}: /dashboard/reconcile/{run_id} on serve.")


def _tokens(r: Row, side: str) -> str:
    s = getattr(r, side)
    return f"{s.input_tokens:,} / {s.cached_tokens:,} / {s.output_tokens:,}"


def _print(rep: Report) -> None:
    name = {"openai": "OpenAI", "anthropic": "Anthropic"}[rep.provider]
    common.console.print(f"{name} bill vs the ledger, {rep.since} to {rep.until} (UTC days)"
                         + (f", account {safe(rep.account)}" if rep.account else ""))
    table = Table("day (UTC)", "account", "model", "verdict", "gateway in/cached/out", "provider in/cached/out",
                  "gateway $", "provider $", "Δ $", "note")
    for r in (*rep.rows, *rep.unattributed):
        table.add_row(r.day.isoformat(), safe(r.account or r.scope or "all"), safe(r.model),
                      f"[{_COLOR[r.verdict]}]{r.verdict}[/]", _tokens(r, "gateway"), _tokens(r, "provider"),
                      f"{r.gateway.usd:.6f}", f"{r.provider.usd:.6f}", f"{r.provider.usd - r.gateway.usd:+.6f}",
                      safe(r.note, 400))
    common.console.print(table if rep.rows or rep.unattributed else "Neither side has calls in this period.")
    common.console.print(f"Matched: {rep.matched_pct:g}% of the provider's dollars; unexplained: "
                         f"${rep.unexplained_usd:.6f} (tolerance ${rep.tolerance_usd} per row).")
    for note in rep.notes:
        common.console.print(f"Note: {safe(note, 1000)}")
