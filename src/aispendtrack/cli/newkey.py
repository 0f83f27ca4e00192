"""Printing a new key once, and reading `--expires`, `--permissions`, `--models`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console

from aispendtrack.limits import permissions as perms
from aispendtrack.store import keys
from aispendtrack.store.db import utcnow


def print_new_key(new: keys.NewKey, as_json: bool, verb: str, console: Console) -> None:
    if as_json:
        click.echo(json.dumps({"id": new.id, "key": new.key, "account": new.account, "name": new.name}, indent=2))
        return
    console.print(f"{verb} key [bold]{new.id}[/] for account {new.account}. It is shown only this once:\n")
    click.echo(new.key)
    console.print(
        "\nUse it as the x-aispendtrack-key header, e.g.\n"
        '  OpenAI(base_url="http://localhost:8080/v1", '
        'default_headers={"x-aispendtrack-key": os.environ["AISPENDTRACK_API_KEY"]})'
    )


def parse_scope(permissions: str | None, models: str | None) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    try:
        p = perms.parse_permissions(permissions)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--permissions") from None
    try:
        m = perms.parse_models(models)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--models") from None
    return p, m


def parse_expiry(value: str | None) -> datetime | None:
    """`30d`, `12h`, `90m` from now, or an ISO 8601 date/datetime (UTC when no zone)."""
    if value is None:
        return None
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    if value[:-1].isdigit() and value[-1:] in units:
        return utcnow() + timedelta(seconds=int(value[:-1]) * units[value[-1]])
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: use e.g. 30d, 12h, or 2026-12-31T00:00:00Z", param_hint="--expires")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


