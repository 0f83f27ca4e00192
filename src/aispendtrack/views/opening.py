"""How the read commands (`report`, `export`, `top`) open the store: one that exists only
(a mistyped `--db` must not leave an empty database behind), errors as messages."""

from __future__ import annotations

from pathlib import Path

import click

from aispendtrack.store import is_url, open_store
from aispendtrack.store.base import SqlStore


def open_existing(target: str | Path) -> SqlStore:
    if not is_url(target) and not Path(target).is_file():
        raise click.ClickException(f"database not found: {target} (run the proxy first, or pass --db)")
    try:
        return open_store(target)
    except Exception as e:  # unreadable, not a database, newer schema, server unreachable
        raise click.ClickException(f"database {target}: {e}") from None
