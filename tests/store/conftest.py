"""The store's contract, on both engines: `store` here is parametrised over SQLite and
PostgreSQL (see tests/engines.py), so every test of this directory runs on both."""

import pytest

from aispendtrack.store import open_store


@pytest.fixture
def store(store_target):
    with open_store(store_target) as opened:
        yield opened


@pytest.fixture()
def path(tmp_path):
    """A SQLite file with every table."""
    p = tmp_path / "shared.db"
    open_store(p).close()
    return p


class Peek:
    """Plain SQL (`?` placeholders) on the store's own database, whichever its engine: to look
    at what the store wrote, or to age a row as time would."""

    def __init__(self, store):
        self.store = store

    def execute(self, sql: str, params=()) -> list[tuple]:
        with self.store.connection() as conn, conn.tx():
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def dump(self) -> str:
        """Every row of every table, as text."""
        if self.store.engine == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        tables = [t for (t,) in self.execute(sql)]
        return "\n".join(repr(r) for t in tables for r in self.execute(f'SELECT * FROM "{t}"'))


@pytest.fixture
def database(store):
    """`Peek` on the test's store (overrides the SQLite-only connection of tests/conftest.py)."""
    return Peek(store)


@pytest.fixture()
def db(path):
    """The SQLite store on `path` (tests of SQLite's own file sharing across processes)."""
    with open_store(path) as store:
        yield store
