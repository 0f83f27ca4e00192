"""What every CLI command shares: the consoles, the store and config openers, store errors as messages."""

from __future__ import annotations

import contextlib
import json
import os
import sys

import click
from rich.console import Console

from aispendtrack import config as configmod
from aispendtrack import store as stores
from aispendtrack.store.base import SqlStore
from aispendtrack.store.db import storage_problem
from aispendtrack.store.records import KeyStoreError, StoreUnavailable

# In pipes rich would squeeze tables to 80 columns; give them room instead.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def table_console() -> Console:
    """A console for tables that fit their width: the terminal's, else $COLUMNS, else 160
    columns (a pipe); made per command, so it sees the environment the command runs in."""
    wide = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(highlight=False, soft_wrap=True, width=None if wide else 160)


def open_store(ctx: click.Context) -> SqlStore:
    """The command's store (one per command, closed when the command ends)."""
    obj = ctx.find_root().obj
    if obj.get("store") is None:
        target = obj["db_path"]
        try:
            obj["store"] = stores.open_store(target)
        except Exception as e:
            raise click.ClickException(f"database {target}: {e}") from None
        ctx.find_root().call_on_close(lambda: obj.pop("store").close())
    return obj["store"]


def load_config(ctx: click.Context) -> configmod.Config:
    try:
        return configmod.load_config(ctx.obj["config_path"])
    except configmod.ConfigError as e:
        raise click.ClickException(str(e)) from None


@contextlib.contextmanager
def store_errors():
    """Operator mistakes (unknown account, tier cap, …) end the command with their message,
    and so does a store that cannot be used now (file gone, disk full, read-only)."""
    try:
        yield
    except KeyStoreError as e:
        raise click.ClickException(str(e)) from None
    except StoreUnavailable as e:
        raise click.ClickException(f"database: {e}") from None
    except Exception as e:
        if (problem := storage_problem(e)) is None:
            raise
        raise click.ClickException(f"database: {problem} ({e})") from None


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))
