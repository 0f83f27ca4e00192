"""Where the config file and the database are: decided from the user's side, never from
where the package is installed.

Config, first that applies: an explicit path (`--config`, option `aispendtrack_config`),
`$AISPENDTRACK_CONFIG`, `./mitm.toml`, the checkout's `mitm.toml`, else none (built-in
defaults). Database: an explicit path (`--db`, option `aispendtrack_db`),
`$AISPENDTRACK_DB`, the checkout's `var/aispendtrack.db`, else `aispendtrack.db` in the
platform's user data directory (`platformdirs`).

"The checkout" is the current directory or its nearest parent that holds the project's
`pyproject.toml` (project name `aispendtrack`) next to a `mitm.toml`; the checkout's own
`scripts/run` and entry file name theirs in `$AISPENDTRACK_CHECKOUT`, so they keep using
it wherever they are started from.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import platformdirs

APP = "aispendtrack"
CONFIG_NAME = "mitm.toml"
CONFIG_ENV = "AISPENDTRACK_CONFIG"
DB_ENV = "AISPENDTRACK_DB"
CHECKOUT_ENV = "AISPENDTRACK_CHECKOUT"


def is_checkout(directory: Path) -> bool:
    """`directory` holds this project's `pyproject.toml` and a `mitm.toml`."""
    try:
        project = tomllib.loads((directory / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return project.get("name") == APP and (directory / CONFIG_NAME).is_file()


def find_checkout(start: Path | None = None) -> Path | None:
    """`$AISPENDTRACK_CHECKOUT`, else the checkout that `start` (default: cwd) is in, else None."""
    pinned = os.environ.get(CHECKOUT_ENV)
    if pinned:
        return Path(pinned)
    here = (start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if is_checkout(d)), None)


def config_path(explicit: str | os.PathLike | None = None) -> Path | None:
    """The config file to read, or None for the built-in defaults."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get(CONFIG_ENV):
        return Path(env)
    if Path(CONFIG_NAME).is_file():
        return Path(CONFIG_NAME).resolve()
    checkout = find_checkout()
    if checkout is not None and (checkout / CONFIG_NAME).is_file():
        return checkout / CONFIG_NAME
    return None


def _target(value: str | os.PathLike) -> Path | str:
    """A PostgreSQL URL stays a string (`Path` would fold its `//`); anything else is a file."""
    text = os.fspath(value)
    return text if text.startswith(("postgresql://", "postgres://")) else Path(text)


def db_path(explicit: str | os.PathLike | None = None, configured: str | None = None) -> Path | str:
    """The database: a SQLite file path, or a `postgresql://` URL (the shared store).
    `explicit` (an option) beats `$AISPENDTRACK_DB`, which beats `configured` (the config
    file's `[database] url`)."""
    if explicit:
        return _target(explicit)
    if env := os.environ.get(DB_ENV):
        return _target(env)
    if configured:
        return _target(configured)
    checkout = find_checkout()
    if checkout is not None:
        return checkout / "var" / "aispendtrack.db"
    return platformdirs.user_data_path(APP, appauthor=False) / "aispendtrack.db"


def describe_config(path: Path | None) -> str:
    return str(path) if path is not None else f"built-in defaults (no {CONFIG_NAME})"
