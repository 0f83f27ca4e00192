import pytest
from click.testing import CliRunner

from aispendtrack.cli.main import cli

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


@pytest.fixture
def run(tmp_path):
    """Invoke the `aispendtrack` CLI on a fresh database (`run.db`); fails on a non-zero exit, or with ok=False on a zero one."""
    db = tmp_path / "cli.db"
    runner = CliRunner()

    def invoke(*args, ok=True):
        result = runner.invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output
        return result

    invoke.db = db
    return invoke
