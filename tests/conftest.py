import pytest

from aispendtrack.store import db as dbmod
from aispendtrack.store import keys, ledger_schema
from aispendtrack.config import Config


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "aispendtrack.db"
    database = dbmod.connect(path)
    keys.ensure_schema(database)
    ledger_schema.ensure_schema(database)
    try:
        from aispendtrack.store import limits as store

        store.ensure_schema(database)
    except ImportError:
        pass
    database.conn.close()
    return path


@pytest.fixture
def database(db_path):
    database = dbmod.connect(db_path)
    yield database
    database.conn.close()


@pytest.fixture
def config():
    return Config()
