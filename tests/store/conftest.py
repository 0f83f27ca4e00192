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
