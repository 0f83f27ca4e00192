"""What every CLI command shares: the consoles, the database and config openers, store errors as messages."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click
from rich.console import Console

from aispendtrack import config as configmod
from aispendtrack.store import db as dbmod
from aispendtrack.store import schema
from aispendtrack.store.tx import KeyStoreError

# In pipes rich would squeeze tables to 80 columns; give them room instead.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def open_db(ctx: click.Context):
    path = Path(ctx.obj["db_path"])
    try:
        database = dbmod.connect(path)
        schema.ensure_schema(database)
    except Exception as e:
        raise click.ClickException(f"database {path}: {e}") from None
    return database


def load_config(ctx: click.Context) -> configmod.Config:
    try:
        return configmod.load_config(ctx.obj["config_path"])
    except configmod.ConfigError as e:
        raise click.ClickException(str(e)) from None


@contextlib.contextmanager
def store_errors():
    """Operator mistakes (unknown account, tier cap, …) end the command with their message."""
    try:
        yield
    except KeyStoreError as e:
        raise click.ClickException(str(e)) from None


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
