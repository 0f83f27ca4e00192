"""`aispendtrack members …` and `aispendtrack webhooks …`: team access and webhook endpoints."""

from __future__ import annotations

import time

import click
from rich.table import Table

from aispendtrack.cli import common
from aispendtrack.serve import webhook_targets
from aispendtrack.store import members as memberstore
from aispendtrack.store import outbox, webhook_endpoints
from aispendtrack.store.tx import Tx
from aispendtrack.views.render import safe


@click.group("members")
def members_group() -> None:
    """Members (people) of an account and their roles: owner, admin, member, viewer."""


@members_group.command("add")
@click.argument("account")
@click.argument("name")
@click.option("--role", type=click.Choice(memberstore.ROLES), default="member", show_default=True)
@click.pass_context
def members_add(ctx: click.Context, account: str, name: str, role: str) -> None:
    """Add member NAME to ACCOUNT (pro and enterprise tiers)."""
    database = common.open_db(ctx)
    with common.store_errors():
        memberstore.add_member(database, account, name, role, common.load_config(ctx))
    common.console.print(f"Added [bold]{safe(name)}[/] to {safe(account)} as {role}. Create their key with: "
                    f"aispendtrack keys create {safe(account)} --member {safe(name)}")


@members_group.command("list")
@click.argument("account", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def members_list(ctx: click.Context, account: str | None, as_json: bool) -> None:
    """List members (all, or ACCOUNT's) with their role and active keys."""
    with common.store_errors():
        rows = memberstore.list_members(common.open_db(ctx), account)
    if as_json:
        common.emit_json(rows)
        return
    table = Table("account", "member", "role", "active keys", "since")
    for r in rows:
        table.add_row(safe(r["account"]), safe(r["name"]), r["role"], str(r["keys"]), r["created"][:10])
    common.console.print(table)


@members_group.command("set-role")
@click.argument("account")
@click.argument("name")
@click.argument("role", type=click.Choice(memberstore.ROLES))
@click.pass_context
def members_set_role(ctx: click.Context, account: str, name: str, role: str) -> None:
    """Give member NAME of ACCOUNT another ROLE (in force on the next request; the last owner stays one)."""
    with common.store_errors():
        before = memberstore.set_role(common.open_db(ctx), account, name, role)
    common.console.print(f"{safe(name)} of {safe(account)}: {before} → [bold]{role}[/].")


@members_group.command("remove")
@click.argument("account")
@click.argument("name")
@click.pass_context
def members_remove(ctx: click.Context, account: str, name: str) -> None:
    """Remove member NAME from ACCOUNT and revoke their keys at once."""
    with common.store_errors():
        revoked = memberstore.remove_member(common.open_db(ctx), account, name)
    common.console.print(f"Removed {safe(name)} from {safe(account)}; revoked {len(revoked)} key(s)"
                    + (f": {', '.join(revoked)}" if revoked else "") + ".")


@click.group("webhooks")
def webhooks_group() -> None:
    """Signed webhooks (Standard Webhooks) for key, member, limit and quota events."""


@webhooks_group.command("add")
@click.argument("account")
@click.argument("url")
@click.option("--events", help=f"Only these (comma-separated): {', '.join(outbox.EVENTS)}. Default: all.")
@click.pass_context
def webhooks_add(ctx: click.Context, account: str, url: str, events: str | None) -> None:
    """Send ACCOUNT's events to URL; prints the signing secret once."""
    database = common.open_db(ctx)
    config = common.load_config(ctx)
    with common.store_errors():
        parsed = outbox.parse_events(events)
        webhook_targets.check_registration(outbox.check_url(url), webhook_targets.Policy.of(config.webhooks))
        row, secret = outbox.add_endpoint(database, account, url, parsed, config.tier_permissions())
    common.console.print(f"Added webhook [bold]{row['id']}[/] for {safe(account)}. Its signing secret is shown only this once:\n")
    click.echo(secret)
    common.err_console.print("\nVerify each delivery with it (Standard Webhooks); see the README.")


@webhooks_group.command("list")
@click.argument("account", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def webhooks_list(ctx: click.Context, account: str | None, as_json: bool) -> None:
    """List webhook endpoints (never their secrets)."""
    rows = outbox.list_endpoints(common.open_db(ctx), account)
    if as_json:
        common.emit_json(rows)
        return
    table = Table("id", "account", "url", "events", "state")
    for r in rows:
        state = webhook_endpoints.state(r)
        if r["previous_secret_until"]:
            state += f"; previous secret signs until {r['previous_secret_until']}"
        table.add_row(r["id"], safe(r["account"]), safe(r["url"]), ",".join(r["events"]) if r["events"] else "all",
                      state)
    common.console.print(table)


@webhooks_group.command("remove")
@click.argument("endpoint_id")
@click.pass_context
def webhooks_remove(ctx: click.Context, endpoint_id: str) -> None:
    """Remove endpoint ENDPOINT_ID and its undelivered messages."""
    with common.store_errors():
        row = outbox.remove_endpoint(common.open_db(ctx), endpoint_id)
    common.console.print(f"Removed webhook {endpoint_id} ({safe(row['url'])}).")


@webhooks_group.command("test")
@click.argument("endpoint_id")
@click.pass_context
def webhooks_test(ctx: click.Context, endpoint_id: str) -> None:
    """Queue a `webhook.test` event for ENDPOINT_ID (sent by `aispendtrack serve`)."""
    database = common.open_db(ctx)
    with common.store_errors():
        row = outbox.get_endpoint(database, endpoint_id)
        if row["disabled"] or row["paused"]:
            raise click.ClickException(f"webhook {endpoint_id} is {webhook_endpoints.state(row)}; nothing queued")
        with Tx(database):
            outbox.emit(database, row["account"], "webhook.test", {"account": row["account"], "endpoint_id": endpoint_id},
                        endpoint_id=endpoint_id, now=time.time())
    common.console.print(f"Queued a webhook.test event for {endpoint_id}; see: aispendtrack webhooks deliveries {endpoint_id}")


@webhooks_group.command("rotate-secret")
@click.argument("endpoint_id")
@click.pass_context
def webhooks_rotate_secret(ctx: click.Context, endpoint_id: str) -> None:
    """A new signing secret for ENDPOINT_ID, printed once; the old one keeps signing too for
    [webhooks] rotation_grace_seconds, then it is dropped."""
    grace = common.load_config(ctx).webhooks.rotation_grace_seconds
    with common.store_errors():
        row, secret = outbox.rotate_secret(common.open_db(ctx), endpoint_id, grace)
    common.console.print(f"New signing secret for webhook [bold]{endpoint_id}[/], shown only this once:\n")
    click.echo(secret)
    until = row["previous_secret_until"]
    common.err_console.print(f"\nUntil {until} deliveries carry a signature with the old secret too: move your "
                             "receiver to the new one before then." if until else
                             "\nThe old secret no longer signs ([webhooks] rotation_grace_seconds = 0).")


@webhooks_group.command("deliveries")
@click.argument("endpoint_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def webhooks_deliveries(ctx: click.Context, endpoint_id: str, as_json: bool) -> None:
    """Every delivery attempt to ENDPOINT_ID, newest first."""
    database = common.open_db(ctx)
    with common.store_errors():
        outbox.get_endpoint(database, endpoint_id)
    rows = outbox.deliveries(database, endpoint_id)
    if as_json:
        common.emit_json(rows)
        return
    table = Table("time", "message", "event", "status", "error", "ms", "message state")
    for r in rows:
        table.add_row(r["ts"], r["message_id"], r["type"] or "", str(r["status"] or ""), r["error"] or "",
                      str(r["duration_ms"]), f"{r['state']} after {r['attempts']}")
    common.console.print(table)
