"""`aispendtrack report`: the spend of any period as a table, or as JSON for scripts."""

from __future__ import annotations

import json

import click
from rich.text import Text

from aispendtrack.views.budgets import budget_entries
from aispendtrack.views.lists import budgets_table
from aispendtrack.views.daterange import parse_tag
from aispendtrack.views.latency import latency_table
from aispendtrack.views.opening import open_existing
from aispendtrack.views.periods import MAX_DAYS, resolve_period
from aispendtrack.store.reads.report import tag_of
from aispendtrack.views.report import DIMENSIONS, report


def _dimension(value: str) -> str:
    if (value in DIMENSIONS and value != "minute") or tag_of(value) is not None:
        return value
    raise click.BadParameter(f"{value!r}: choose from {', '.join(d for d in DIMENSIONS if d != 'minute')}, "
                             "or tag:NAME (NAME: lower-case letters, digits, '_', '.', '-')")


@click.command("report")
@click.option("--since", help="Start (ISO date or datetime, UTC), inclusive.")
@click.option("--until", help="End (ISO datetime, exclusive; a bare date includes that day).")
@click.option("--today", is_flag=True, help="Since midnight UTC.")
@click.option("--month", is_flag=True, help="This calendar month (UTC).")
@click.option("--days", type=click.IntRange(min=1, max=MAX_DAYS), help="The last N days.")
@click.option("--by", callback=lambda ctx, param, value: _dimension(value), default="model", show_default=True,
              help=f"Group by one of {', '.join(d for d in DIMENSIONS if d != 'minute')}, or tag:NAME (a call tag).")
@click.option("--top", type=click.IntRange(min=1), help="Show the N costliest groups, the rest merged.")
@click.option("--account", help="Only this account (name).")
@click.option("--key", help="Only this key (key id or hint).")
@click.option("--tag", "tag_filter", help="Only the calls with this tag: NAME=VALUE (e.g. feature=search).")
@click.option("--json", "as_json", is_flag=True, help="Print only JSON (money as decimal strings).")
def report_command(since, until, today, month, days, by, top, account, key, tag_filter, as_json):
    """What the calls cost: totals, per key/account/model/..., spend per day, latency
    (p50/p95, nearest rank) and the budgets."""
    from aispendtrack.views import render

    try:
        period = resolve_period(since=since, until=until, today=today, month=month, days=days)
        tag = parse_tag(tag_filter, "--tag")
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    with open_existing(click.get_current_context().obj["db_path"]) as store:
        rep = report(store, since=period[0], until=period[1], by=by, top=top, account=account, key=key, tag=tag,
                     latency=True)
        # A report of one key shows no budgets: the account's would read as that key's.
        config = None if key is not None else _config()
        budgets = budget_entries(store, config, account=account) if config is not None else []
    if as_json:
        click.echo(json.dumps({**rep.to_dict(), "budgets": budgets}, indent=2))
        return
    console = render.make_console()
    console.print(render.render_report(rep))
    if rep.latency_total is not None and rep.latency_total.calls:
        rows = [(render._group_label(rep.by, g.key, rep.labels), rep.group_latency(g.key)) for g in rep.groups]
        console.print(Text(""), latency_table(rows, rep.by))
    if (table := budgets_table(budgets)) is not None:
        console.print(Text(""), table)


def _config():
    """The config for tier budgets; a report still prints without a readable one."""
    from aispendtrack.config import ConfigError, load_config

    try:
        return load_config(click.get_current_context().obj.get("config_path"))
    except ConfigError:
        return None
