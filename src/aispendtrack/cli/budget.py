"""`accounts budget NAME` and `keys budget KEY_ID`: set or clear a dollar budget."""

from __future__ import annotations

import time

import click

from aispendtrack.limits import budget as rules


def budget_command(scope: str) -> click.Command:
    """The `budget` command of the `accounts` (scope "account") or `keys` (scope "key") group."""
    what = "NAME" if scope == "account" else "KEY_ID"

    @click.command("budget", help=f"Set {what}'s dollar budget (UTC periods; week = ISO, from Monday), or --clear it. "
                                  "In force on the next request; a budget set mid-period counts that period's spend.")
    @click.argument("subject", metavar=what)
    @click.option("--usd", help="Budget in USD, e.g. 50 or 0.25.")
    @click.option("--period", type=click.Choice(rules.PERIODS), default="month", show_default=True)
    @click.option("--clear", is_flag=True, help="Remove the budget (an account falls back to its tier's, if any).")
    @click.pass_context
    def command(ctx: click.Context, subject: str, usd: str | None, period: str, clear: bool) -> None:
        from aispendtrack.cli.common import console, open_store, store_errors
        from aispendtrack.views.render import safe

        if clear == (usd is not None):
            raise click.UsageError("give either --usd X or --clear")
        store = open_store(ctx)
        with store_errors():
            name = store.get_account(subject).name if scope == "account" else store.get_key(subject).id
            label = f"{scope} {safe(name)}"
            if clear:
                removed = store.clear_budget(scope, name)
                console.print(f"Budget of {label} cleared." if removed else f"{label} had no budget of its own.")
                return
            try:
                b = store.set_budget(scope, name, usd, period, now=time.time())
            except ValueError as e:
                raise click.BadParameter(str(e), param_hint="--usd") from None
        console.print(f"Budget of {label}: ${format(b.usd, 'f')} per {period} (UTC).")

    return command
