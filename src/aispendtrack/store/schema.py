"""Transitional: `ensure_schema(database)` for callers that still hold a `sqlite_utils`
database; they move to `open_store`, which migrates the schema itself."""

from __future__ import annotations

from aispendtrack.store.migrate import migrate
from aispendtrack.store.sqlite.conn import SqliteConn
from aispendtrack.store.sqlite.schema import MIGRATIONS


def ensure_schema(database) -> None:
    migrate(SqliteConn(getattr(database, "conn", database)), MIGRATIONS)
