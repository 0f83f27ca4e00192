"""`aispendtrack members …` and `aispendtrack webhooks …`: team access and webhook endpoints."""

from __future__ import annotations

from dataclasses import asdict

import click

from aispendtrack.cli import common
from aispendtrack.serve import webhook_targets
from aispendtrack.store import members as memberstore
from aispendtrack.store import webhook_endpoints
from aispendtrack.views import lists
from aispendtrack.views.formats import fmt_time
from aispendtrack.views.render import clean, safe


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
    store = common.open_store(ctx)
    with common.store_errors():
        store.add_member(account, name, role, common.load_config(ctx))
    common.console.print(f"Added [bold]{safe(name)}[/] to {safe(account)} as {role}. Create their key with: "
                    f"aispendtrack keys create {safe(account)} --member {safe(name)}")


@members_group.command("list")
@click.argument("account", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def members_list(ctx: click.Context, account: str | None, as_json: bool) -> None:
    """List members (all, or ACCOUNT's) with their role and active keys."""
    with common.store_errors():
        rows = common.open_store(ctx).list_members(account)
    if as_json:
        common.emit_json([{"account": m.account, "id": m.id, "name": m.name, "role": m.role, "created": m.created,
                           "keys": m.keys} for m in rows])
        return
    records = [{"account": clean(m.account), "member": clean(m.name), "role": m.role, "active keys": str(m.keys),
                "keys": str(m.keys), "since": m.created[:10]} for m in rows]
    common.table_console().print(lists.table(records, [["account", "member", "role", "active keys", "since"],
                                               ["account", "member", "role", "keys", "since"]], right={"active keys", "keys"}))


@members_group.command("set-role")
@click.argument("account")
@click.argument("name")
@click.argument("role", type=click.Choice(memberstore.ROLES))
@click.pass_context
def members_set_role(ctx: click.Context, account: str, name: str, role: str) -> None:
    """Give member NAME of ACCOUNT another ROLE (in force on the next request; the last owner stays one)."""
    with common.store_errors():
        before = common.open_store(ctx).set_role(account, name, role)
    common.console.print(f"{safe(name)} of {safe(account)}: {before} → [bold]{role}[/].")


@members_group.command("remove")
@click.argument("account")
@click.argument("name")
@click.pass_context
def members_remove(ctx: click.Context, account: str, name: str) -> None:
    """Remove member NAME from ACCOUNT and revoke their keys at once."""
    with common.store_errors():
        revoked = common.open_store(ctx).remove_member(account, name)
    common.console.print(f"Removed {safe(name)} from {safe(account)}; revoked {len(revoked)} key(s)"
                    + (f": {', '.join(revoked)}" if revoked else "") + ".")


@click.group("webhooks")
def webhooks_group() -> None:
    """Signed webhooks (Standard Webhooks) for key, member, limit and quota events."""


@webhooks_group.command("add")
@click.argument("account")
@click.argument("url")
@click.option("--events", help=f"Only these (comma-separated): {', '.join(webhook_endpoints.EVENTS)}. Default: all.")
@click.pass_context
def webhooks_add(ctx: click.Context, account: str, url: str, events: str | None) -> None:
    """Send ACCOUNT's events to URL; prints the signing secret once."""
    store = common.open_store(ctx)
    config = common.load_config(ctx)
    with common.store_errors():
        parsed = webhook_endpoints.parse_events(events)
        webhook_targets.check_registration(webhook_endpoints.check_url(url), webhook_targets.Policy.of(config.webhooks))
        endpoint, secret = store.add_endpoint(account, url, parsed, config.tier_permissions())
    common.console.print(f"Added webhook [bold]{endpoint.id}[/] for {safe(account)}. Its signing secret is shown only this once:\n")
    click.echo(secret)
    common.err_console.print("\nVerify each delivery with it (Standard Webhooks); see the README.")


@webhooks_group.command("list")
@click.argument("account", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def webhooks_list(ctx: click.Context, account: str | None, as_json: bool) -> None:
    """List webhook endpoints (never their secrets)."""
    with common.store_errors():
        rows = common.open_store(ctx).list_endpoints(account)
    if as_json:
        common.emit_json([asdict(e) for e in rows])
        return
    common.table_console().print(lists.endpoints_table(rows))


@webhooks_group.command("remove")
@click.argument("endpoint_id")
@click.pass_context
def webhooks_remove(ctx: click.Context, endpoint_id: str) -> None:
    """Remove endpoint ENDPOINT_ID and its undelivered messages."""
    with common.store_errors():
        endpoint = common.open_store(ctx).remove_endpoint(endpoint_id)
    common.console.print(f"Removed webhook {endpoint_id} ({safe(endpoint.url)}).")


@webhooks_group.command("test")
@click.argument("endpoint_id")
@click.pass_context
def webhooks_test(ctx: click.Context, endpoint_id: str) -> None:
    """Queue a `webhook.test` event for ENDPOINT_ID (sent by `aispendtrack serve`)."""
    store = common.open_store(ctx)
    with common.store_errors():
        endpoint = store.get_endpoint(endpoint_id)
        if endpoint.disabled or endpoint.paused:
            raise click.ClickException(f"webhook {endpoint_id} is {endpoint.state}; nothing queued")
        store.send_test_event(endpoint_id)
    common.console.print(f"Queued a webhook.test event for {endpoint_id}; see: aispendtrack webhooks deliveries {endpoint_id}")


@webhooks_group.command("rotate-secret")
@click.argument("endpoint_id")
@click.pass_context
def webhooks_rotate_secret(ctx: click.Context, endpoint_id: str) -> None:
    """A new signing secret for ENDPOINT_ID, printed once; the old one keeps signing too for
    [webhooks] rotation_grace_seconds, then it is dropped."""
    grace = common.load_config(ctx).webhooks.rotation_grace_seconds
    with common.store_errors():
        endpoint, secret = common.open_store(ctx).rotate_secret(endpoint_id, grace)
    common.console.print(f"New signing secret for webhook [bold]{endpoint_id}[/], shown only this once:\n")
    click.echo(secret)
    until = endpoint.previous_secret_until
    common.err_console.print(f"\nUntil {fmt_time(until)} deliveries carry a signature with the old secret too: move your "
                             "receiver to the new one before then." if until else
                             "\nThe old secret no longer signs ([webhooks] rotation_grace_seconds = 0).")


@webhooks_group.command("deliveries")
@click.argument("endpoint_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def webhooks_deliveries(ctx: click.Context, endpoint_id: str, as_json: bool) -> None:
    """Every delivery attempt to ENDPOINT_ID, newest first."""
    store = common.open_store(ctx)
    with common.store_errors():
        store.get_endpoint(endpoint_id)
        rows = store.deliveries(endpoint_id)
    if as_json:
        common.emit_json([asdict(a) for a in rows])
        return
    common.table_console().print(lists.deliveries_table(rows))
