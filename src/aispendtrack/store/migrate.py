"""Schema versions for both engines in one place: numbered migrations, applied at start.

Each engine lists its migrations in order (`store/sqlite/schema.py`, `store/postgres/schema.py`).
`migrate(conn, migrations)` applies the ones the database lacks, each in its own write
transaction that records its number in `schema_version`, so several processes starting at
once apply each migration exactly once (the second finds it done under the lock). A
database whose schema is newer than every migration this code knows is refused: an older
AiSpendTrack must not write into tables it does not understand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aispendtrack.store.conn import Conn
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.records import StoreError

VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version integer PRIMARY KEY, name text NOT NULL, applied text NOT NULL)"""


class SchemaTooNew(StoreError):
    """The database was migrated by a newer AiSpendTrack."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Conn], None]


def of_statements(version: int, name: str, statements: Sequence[str]) -> Migration:
    def apply(conn: Conn) -> None:
        for sql in statements:
            conn.execute(sql)

    return Migration(version, name, apply)


def current_version(conn: Conn) -> int:
    conn.execute(VERSION_TABLE)
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return row[0] or 0


def latest(migrations: Sequence[Migration]) -> int:
    return migrations[-1].version if migrations else 0


def applied_version(conn: Conn) -> int:
    """The database's schema version, writing nothing (0: never migrated). Outside a
    transaction: a missing table's error ends only this statement."""
    try:
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except Exception as e:
        if "no such table" in str(e) or getattr(e, "sqlstate", None) == "42P01":  # SQLite's, PostgreSQL's
            return 0
        raise
    return row[0] or 0


def too_new(version: int, known: int) -> str:
    """The documented refusal of a database migrated by a newer AiSpendTrack."""
    return (f"the database's schema is version {version}, newer than this AiSpendTrack knows ({known}): "
            "upgrade AiSpendTrack on this machine (every gateway on one database runs the same version)")


def migrate(conn: Conn, migrations: Sequence[Migration]) -> int:
    """Bring the schema up to the last of `migrations`; the version it is at."""
    latest_known = latest(migrations)
    with conn.tx("schema"):  # concurrent CREATE TABLE IF NOT EXISTS can collide on PostgreSQL
        version = current_version(conn)
    if version > latest_known:
        raise SchemaTooNew(too_new(version, latest_known))
    for m in migrations:
        if m.version <= version:
            continue
        with conn.tx("schema"):
            if current_version(conn) < m.version:  # else another process applied it meanwhile
                m.apply(conn)
                conn.execute("INSERT INTO schema_version (version, name, applied) VALUES (?, ?, ?)",
                             [m.version, m.name, iso(utcnow())])
        version = m.version
    return version
