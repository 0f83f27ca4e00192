"""`aispendtrack providers …` and `aispendtrack vault rotate`: provider credentials kept in
the vault, so clients hold only their AiSpendTrack key.

A secret is read from stdin (piped) or a hidden prompt, never from the command line, where
every user of the machine could read it in the process list and the shell keeps it."""

from __future__ import annotations

import contextlib
import getpass
import sys

import click
from rich.table import Table

from aispendtrack.cli import common
from aispendtrack.reconcile.adminkey import PROVIDERS, vault_name
from aispendtrack.store.vault import MODES
from aispendtrack.vault import service
from aispendtrack.vault.crypto import VaultError
from aispendtrack.views.render import safe


@contextlib.contextmanager
def vault_errors():
    with common.store_errors():
        try:
            yield
        except VaultError as e:
            raise click.ClickException(str(e)) from None


def _read_secret(provider: str) -> str:
    if sys.stdin.isatty():
        return click.prompt(f"{provider} API key (not shown)", hide_input=True, prompt_suffix=": ")
    return sys.stdin.read()


@click.group("providers")
def providers_group() -> None:
    """Provider API keys in the vault: the gateway sets them upstream, clients never hold them."""


key_option = click.option("--key", "key_id", default=None, help="For this AiSpendTrack key only (overrides the account's).")
admin_option = click.option("--admin", is_flag=True, help="The provider's organization admin key, for `aispendtrack "
                            "reconcile` only: stored apart, never sent with proxied calls.")


def _stored_name(provider: str, key_id: str | None, admin: bool) -> str:
    """The vault's provider name: an admin key is kept as `<provider>.admin` (reconcile/adminkey.py)."""
    if not admin:
        return provider
    if provider not in PROVIDERS:
        raise click.BadParameter(f"admin keys are read for {' and '.join(PROVIDERS)} only", param_hint="PROVIDER")
    if key_id is not None:
        raise click.BadParameter("an admin key is the organization's: not one AiSpendTrack key's", param_hint="--key")
    return vault_name(provider)


@providers_group.command("set")
@click.argument("account")
@click.argument("provider")
@key_option
@admin_option
@click.option("--by", "set_by", default=None, help="Who set it (default: your user name).")
@click.pass_context
def providers_set(ctx: click.Context, account: str, provider: str, key_id: str | None, admin: bool,
                  set_by: str | None) -> None:
    """Store PROVIDER's API key for ACCOUNT, read from stdin or a hidden prompt."""
    store = common.open_store(ctx)
    with vault_errors():
        service.check_provider(provider, service.known_providers(common.load_config(ctx)))
        store.get_account(account)
        stored = _stored_name(provider, key_id, admin)
        record = service.store_secret(store, account, stored, key_id, _read_secret(stored),
                                      set_by or f"cli:{getpass.getuser()}")
    whose = f"key {safe(key_id)} of {safe(account)}" if key_id else safe(account)
    common.console.print(f"Stored the {safe(record.provider)} key {safe(record.hint)} for {whose} "
                         f"(sealed with master key {record.master_key_id}).")


@providers_group.command("list")
@click.argument("account", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def providers_list(ctx: click.Context, account: str | None, as_json: bool) -> None:
    """Stored provider keys: hint, who set them and when, and whether each decrypts (exit 1 if one does not)."""
    store = common.open_store(ctx)
    with vault_errors():
        listed = service.list_checked(store, account)
    if as_json:
        common.emit_json([item.as_json() for item in listed])
    else:
        table = Table("account", "provider", "for", "hint", "set by", "set at", "master key", "decrypts")
        for item in listed:
            r = item.record
            table.add_row(safe(r.account), safe(r.provider), safe(r.key_id or "account"), safe(r.hint),
                          safe(r.set_by), r.set_at, r.master_key_id,
                          "yes" if item.problem is None else f"[red]NO[/]: {safe(item.problem)}")
        common.console.print(table if listed else "No provider keys stored. Add one with: aispendtrack "
                                                  "providers set ACCOUNT PROVIDER")
    if broken := [i for i in listed if i.problem is not None]:
        common.err_console.print(f"{len(broken)} stored provider key(s) do not decrypt: the gateway answers 503 "
                                 "for their calls until fixed.")
        ctx.exit(1)


@providers_group.command("remove")
@click.argument("account")
@click.argument("provider")
@key_option
@admin_option
@click.pass_context
def providers_remove(ctx: click.Context, account: str, provider: str, key_id: str | None, admin: bool) -> None:
    """Remove PROVIDER's stored key from ACCOUNT (or from one of its keys)."""
    store = common.open_store(ctx)
    stored = _stored_name(provider, key_id, admin)
    with vault_errors():
        service.remove(store, account, stored, key_id)
    common.console.print(f"Removed the {safe(stored)} key of {safe(key_id or account)}.")


@providers_group.command("mode")
@click.argument("account")
@click.argument("mode", type=click.Choice(MODES))
@click.pass_context
def providers_mode(ctx: click.Context, account: str, mode: str) -> None:
    """inject: replace whatever provider key a client sends; require: refuse (403) a client that sends one."""
    store = common.open_store(ctx)
    with vault_errors():
        store.set_vault_mode(store.get_account(account).id, mode)
    common.console.print(f"Account {safe(account)}: vault mode {mode}.")


@click.group("vault")
def vault_group() -> None:
    """The vault's master key."""


@vault_group.command("rotate")
@click.pass_context
def vault_rotate(ctx: click.Context) -> None:
    """Seal every stored provider key with a new master key; drop the old keys nothing uses."""
    store = common.open_store(ctx)
    with vault_errors():
        done = service.rotate(store)
    common.console.print(f"Resealed {done.records} provider key(s) with master key {done.current} ({done.source}).")
    if done.dropped:
        common.console.print(f"Removed old master key(s) {', '.join(done.dropped)} from {done.source}.")
    if done.kept:
        common.console.print(f"No record uses {', '.join(done.kept)} any more: remove it from {done.source} once "
                             "every gateway runs with the new key.")
