"""The store: every read and write of keys, limits, budgets, the ledger, members, sessions
and webhooks goes through one `Store` (`store.api`), opened by `open_store`."""

from __future__ import annotations

from pathlib import Path

from aispendtrack.store.base import SqlStore


def is_url(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def describe_target(target: str | Path) -> str:
    """The database as it may be shown and logged (a URL's password never is)."""
    if is_url(target):
        from aispendtrack.store.postgres.dsn import describe

        return describe(str(target))
    return str(target)


def open_store(target: str | Path, *, migrate_schema: bool = True, health=None) -> SqlStore:
    """The store at `target`: a `postgresql://…` URL (the shared PostgreSQL store), else a
    SQLite file path. Its schema is brought up to date (`migrate_schema`). `health`
    (`store.health.Health`) is told when a SQLite file is lost for the process."""
    if is_url(target):
        from aispendtrack.store.postgres.store import PostgresStore

        return PostgresStore(str(target), migrate_schema=migrate_schema)
    from aispendtrack.store.sqlite.store import SqliteStore

    return SqliteStore(target, migrate_schema=migrate_schema, health=health)
