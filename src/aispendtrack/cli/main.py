"""`aispendtrack`: accounts, keys, limits, reports and export over the same database the proxy uses.

Commands mirror the store one to one (`store.create_key` ↔ `aispendtrack keys create`);
`--json` output carries no decoration, so scripts can parse it.
"""

from __future__ import annotations

import os

import sys
import time

import click
from rich.table import Table

from aispendtrack import config as configmod
from aispendtrack.paths import DB_ENV
from aispendtrack.store import keys
from aispendtrack.views import render, usage
from aispendtrack.cli.cabundle import ca_bundle_command
from aispendtrack.cli.rename import accounts_rename, keys_rename
from aispendtrack.views.render import safe
from aispendtrack.views.budgets import fmt_budget
from aispendtrack.cli.run import addon_path_command, run_command
from aispendtrack.demo import demo_command
from aispendtrack.views.export import export_command
from aispendtrack.limits.window import month_key
from aispendtrack.cli.report import report_command
from aispendtrack.views.top import top_command
from aispendtrack.cli import newkey
from aispendtrack.cli.common import console, emit_json, err_console, load_config, open_store, store_errors  # noqa: F401
from aispendtrack.serve.command import serve_command
from aispendtrack.cli.team import members_group, webhooks_group
from aispendtrack.cli.budget import budget_command
from aispendtrack.cli.backup import backup_command
from aispendtrack.cli.db import db_group
from aispendtrack.cli.vault import providers_group, vault_group
from aispendtrack.cli.reconcile import reconcile_command


@click.group()
@click.option("--config", "config_path", envvar="AISPENDTRACK_CONFIG", type=click.Path(dir_okay=False),
              help="Config file (TOML). Default: $AISPENDTRACK_CONFIG, else ./mitm.toml, else the checkout's, else built-in defaults.")
@click.option("--db", "db_path", envvar="AISPENDTRACK_DB", type=click.Path(dir_okay=False),
              help="Database: a file, or a postgresql:// URL. Default: $AISPENDTRACK_DB, else the config's "
                   "[database] url, else the checkout's var/aispendtrack.db, else the user data directory.")
@click.version_option(package_name="aispendtrack")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, db_path: str | None) -> None:
    """AiSpendTrack: keys, limits and the spend ledger of your local LLM gateway."""
    config_path = configmod.config_path(config_path)
    configured = None
    if not db_path and not os.environ.get(DB_ENV) and config_path is not None:
        try:  # the config's `[database] url`: a broken config is an error here too, naming the field
            configured = configmod.load_config(config_path).database.url
        except configmod.ConfigError as e:
            raise click.ClickException(str(e)) from None
    ctx.obj = {"config_path": config_path, "db_path": str(configmod.db_path(db_path, configured))}


# ---- accounts -------------------------------------------------------------------------


@cli.group()
def accounts() -> None:
    """Create and list accounts (each has a tier: free, pro or enterprise)."""


@accounts.command("create")
@click.argument("name")
@click.option("--tier", type=click.Choice(configmod.TIERS), default="free", show_default=True)
@click.option("--owner", default="owner", show_default=True, help="Name of the account's owner (a member).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def accounts_create(ctx: click.Context, name: str, tier: str, owner: str, as_json: bool) -> None:
    """Create account NAME and its owner."""
    store = open_store(ctx)
    with store_errors():
        account = store.create_account(name, tier, owner)
    if as_json:
        emit_json({"id": account.id, "name": account.name, "tier": account.tier})
    else:
        console.print(f"Created account [bold]{safe(name)}[/] ({tier} tier).")


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def accounts_list(ctx: click.Context, as_json: bool) -> None:
    """List accounts with their limits and usage this month."""
    store = open_store(ctx)
    config = load_config(ctx)
    with store_errors():
        rows = usage.account_usage(store, config)
    if as_json:
        emit_json(rows)
        return
    table = Table("account", "tier", "keys", "requests/hour per key", "calls this month", "month resets", "budget")
    for r in rows:
        table.add_row(
            safe(r["name"]), r["tier"], str(r["active_keys"]), usage.fmt_limit(r["requests_per_hour"]),
            usage.fmt_used(r["monthly_used"], r["monthly_calls"]), usage.fmt_reset(r["monthly_reset_seconds"]),
            fmt_budget(r["budget"]),
        )
    console.print(table)


@accounts.command("set-tier")
@click.argument("name")
@click.argument("tier", type=click.Choice(configmod.TIERS))
@click.pass_context
def accounts_set_tier(ctx: click.Context, name: str, tier: str) -> None:
    """Move account NAME to TIER (upgrade or downgrade); in force on the next request."""
    store = open_store(ctx)
    config = load_config(ctx)
    with store_errors():
        before = store.get_account(name).tier
        store.set_tier(name, tier, config)
    perms = ", ".join(config.tier(tier).permissions)
    console.print(f"Account {safe(name)}: {before} → [bold]{tier}[/] tier (permissions: {perms}).")


@accounts.command("limits")
@click.argument("name")
@click.option("--requests-per-hour", help='Per-key hourly limit: a number, "unlimited", or "tier" for the tier default.')
@click.option("--monthly-calls", help='Monthly calls: a number, "unlimited", or "tier" for the tier default.')
@click.pass_context
def accounts_limits(ctx: click.Context, name: str, requests_per_hour: str | None, monthly_calls: str | None) -> None:
    """Set an account's own limits (for enterprise accounts)."""
    store = open_store(ctx)
    with store_errors():
        current = store.get_account(name)

        def parse(value: str | None, column: str):
            if value is None:
                stored = getattr(current, column)
                return None if stored is None else ("unlimited" if stored < 0 else stored)
            if value == "tier":
                return None
            try:
                return configmod.limit_value(int(value) if value.isdigit() else value)
            except ValueError as e:
                raise click.BadParameter(f'{e} (or "tier")', param_hint="--" + column.replace("_", "-")) from None

        account = store.set_account_limits(
            name,
            requests_per_hour=parse(requests_per_hour, "requests_per_hour"),
            monthly_calls=parse(monthly_calls, "monthly_calls"),
        )
    rph, monthly = keys.account_limits(account, load_config(ctx))
    console.print(f"{safe(name)}: {rph or 'unlimited'} requests/hour per key, {monthly or 'unlimited'} calls/month.")


@accounts.command("reset")
@click.argument("name")
@click.pass_context
def accounts_reset(ctx: click.Context, name: str) -> None:
    """Reset an account's monthly counter for the current month."""
    store = open_store(ctx)
    with store_errors():
        account = store.get_account(name)
        store.reset_account(account.name, month=month_key(time.time()))
    console.print(f"Reset this month's call counter of account {safe(name)}.")


# ---- keys -----------------------------------------------------------------------------


@cli.group("keys")
def keys_group() -> None:
    """Create, list, rotate and revoke AiSpendTrack keys."""


@keys_group.command("create")
@click.argument("account")
@click.option("--name", help="A label for the key.")
@click.option("--member", help="The member (person) it is for. Default: the account's owner.")
@click.option("--expires", help="Expiry: 30d, 12h, 90m from now, or an ISO 8601 date/datetime (UTC).")
@click.option("--permissions", help="Only these (comma-separated): calls, dashboard, export, team, webhooks, api. "
              "Default: all the tier allows.")
@click.option("--models", help="Only these models (comma-separated globs, e.g. 'gpt-4o-mini,claude-*'). Default: any.")
@click.option("--tags", help="Default tags of its calls, e.g. 'env=ci,team=search' (the tag headers' rules; "
              "a request's x-aispendtrack-tags header wins per tag name).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with id, key, account, name.")
@click.pass_context
def keys_create(ctx: click.Context, account: str, name: str | None, member: str | None, expires: str | None,
                permissions: str | None, models: str | None, tags: str | None, as_json: bool) -> None:
    """Create a key for ACCOUNT; the key is printed once and stored only as a digest."""
    store = open_store(ctx)
    scope_perms, scope_models = newkey.parse_scope(permissions, models)
    with store_errors():
        new = store.create_key(account, load_config(ctx), name=name, expires=newkey.parse_expiry(expires),
                              permissions=scope_perms, models=scope_models, member=member,
                              tags=newkey.parse_tags(tags))
    newkey.print_new_key(new, as_json, "Created", console)


@keys_group.command("list")
@click.argument("account", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include revoked and expired keys (listed after active ones).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the same keys as the table).")
@click.pass_context
def keys_list(ctx: click.Context, account: str | None, show_all: bool, as_json: bool) -> None:
    """List the active keys (all accounts', or ACCOUNT's) with their usage against limits."""
    store = open_store(ctx)
    config = load_config(ctx)
    with store_errors():
        rows = usage.key_usage(store, config, account)
    rows.sort(key=lambda r: r["state"] != "active")  # stable: by account and age within
    hidden = 0 if show_all else sum(r["state"] != "active" for r in rows)
    rows = rows if show_all else [r for r in rows if r["state"] == "active"]
    if as_json:
        emit_json(rows)
        return
    clean = render.clean
    cells = [[
        r["id"], clean(r["account"]), clean(r["member"] or ""), clean(r["name"] or ""), r["hint"],
        r["state"] + (" (old secret in grace)" if r["in_grace"] else "") + (", rotate it" if r["rotation_due"] else ""),
        ",".join(r["permissions"]), clean(",".join(r["models"])) if r["models"] is not None else "any",
        clean(",".join(f"{k}={v}" for k, v in (r["tags"] or {}).items())),
        usage.fmt_used(r["hourly_used"], r["requests_per_hour"]), usage.fmt_reset(r["hourly_reset_seconds"]),
        fmt_budget(r["budget"]), render.fmt_time(r["last_used"]) if r["last_used"] else "never",
    ] for r in rows]  # fmt: skip
    columns = ["id", "account", "member", "name", "key", "state", "permissions", "models", "tags", "requests this hour",
               "resets in", "budget", "last used"]
    console.print(render.fitted(columns, cells, console))
    if hidden:
        console.print(f"{hidden} revoked or expired {'key' if hidden == 1 else 'keys'} not shown (--all shows them)")


@keys_group.command("rotate")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with id, key, account, name.")
@click.pass_context
def keys_rotate(ctx: click.Context, key_id: str, as_json: bool) -> None:
    """Issue a new secret for KEY_ID; the old one keeps working for the grace period."""
    store = open_store(ctx)
    config = load_config(ctx)
    with store_errors():
        new = store.rotate_key(key_id, config)
    newkey.print_new_key(new, as_json, "Rotated", console)
    if not as_json:
        err_console.print(f"The previous secret stays valid for {config.keys.rotation_grace_seconds} s.")


@keys_group.command("revoke")
@click.argument("key_id")
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke KEY_ID at once (all its secrets)."""
    store = open_store(ctx)
    with store_errors():
        key = store.revoke_key(key_id)
    console.print(f"Revoked key {safe(key_id)} (account {safe(key.account)}) at {key.revoked}.")


@keys_group.command("reset")
@click.argument("key_id")
@click.pass_context
def keys_reset(ctx: click.Context, key_id: str) -> None:
    """Reset KEY_ID's hourly rate-limit counter."""
    store = open_store(ctx)
    with store_errors():
        store.get_key(key_id)
        store.reset_key(key_id)
    console.print(f"Reset the hourly counter of key {safe(key_id)}.")


for _command in (report_command, export_command, top_command, demo_command, run_command, addon_path_command,
                 serve_command, members_group, webhooks_group,
                 ca_bundle_command, backup_command, providers_group, vault_group, reconcile_command):
    cli.add_command(_command)
accounts.add_command(accounts_rename)
keys_group.add_command(keys_rename)
accounts.add_command(budget_command("account"))
keys_group.add_command(budget_command("key"))
cli.add_command(db_group)


def main() -> None:
    try:
        cli(prog_name="aispendtrack")
    except BrokenPipeError:
        sys.stderr.close()


if __name__ == "__main__":
    main()
