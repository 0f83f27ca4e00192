"""`accounts rename OLD NEW` and `keys rename KEY_ID NAME`: names change, ids and history stay."""

from __future__ import annotations


import click

from aispendtrack.cli import common
from aispendtrack.views.render import safe


@click.command("rename")
@click.argument("old")
@click.argument("new")
@click.pass_context
def accounts_rename(ctx: click.Context, old: str, new: str) -> None:
    """Rename account OLD to NEW; its keys, monthly counter and ledger rows follow."""
    store = common.open_store(ctx)
    with common.store_errors():
        store.rename_account(old, new)
    common.console.print(f"Renamed account {safe(old)} to {safe(new)} (keys, this month's counter and ledger rows follow).")


@click.command("rename")
@click.argument("key_id")
@click.argument("name")
@click.pass_context
def keys_rename(ctx: click.Context, key_id: str, name: str) -> None:
    """Set KEY_ID's name (its label in lists and reports; "" clears it)."""
    store = common.open_store(ctx)
    with common.store_errors():
        key = store.rename_key(key_id, name)
    common.console.print(f"Key {safe(key_id)} of account {safe(key.account)} is now named {safe(key.name or '(no name)')}.")
