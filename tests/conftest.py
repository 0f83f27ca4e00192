import pytest

from aispendtrack.config import Config
from aispendtrack.store import db as dbmod
from aispendtrack.store import schema


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "aispendtrack.db"
    database = dbmod.connect(path)
    schema.ensure_schema(database)
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
