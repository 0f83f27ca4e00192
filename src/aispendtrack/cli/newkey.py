"""Printing a new key once, and reading `--expires`, `--permissions`, `--models`, `--tags`."""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.console import Console

from aispendtrack.auth import tags as tagrules
from aispendtrack.limits import permissions as perms
from aispendtrack.store.db import utcnow
from aispendtrack.store import keytext
from aispendtrack.store.keytext import NewKey
from aispendtrack.views.render import safe


def print_new_key(new: NewKey, as_json: bool, verb: str, console: Console) -> None:
    if as_json:
        click.echo(json.dumps({"id": new.id, "key": new.key, "account": new.account, "name": new.name}, indent=2))
        return
    console.print(f"{verb} key [bold]{new.id}[/] for account {safe(new.account)}. It is shown only this once:\n")
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


def parse_expiry(value: str | None, now: datetime | None = None) -> datetime | None:
    """`30d`, `12h`, `90m` from now, or an ISO 8601 date/datetime (UTC when no zone); in
    the future and at most 100 years ahead (`keytext.parse_expiry`, shared with the API)."""
    if value is None:
        return None
    try:
        return keytext.parse_expiry(value, now or utcnow())
    except ValueError as e:
        raise click.BadParameter(f"{value!r}: {e}", param_hint="--expires") from None


def parse_tags(value: str | None) -> dict[str, str] | None:
    """`--tags env=ci,team=search` by the tag headers' rules (`auth.tags`)."""
    if value is None:
        return None
    try:
        return tagrules.parse_tag_list(value, "--tags")
    except ValueError as e:
        raise click.BadParameter(str(e).removeprefix("--tags: "), param_hint="--tags") from None
