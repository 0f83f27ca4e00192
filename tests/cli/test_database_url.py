"""`[database] url` in the config names the store when no `--db` or $AISPENDTRACK_DB does:
the CLI (and so `serve`), `aispendtrack run` and the proxy all follow it."""

from click.testing import CliRunner

from aispendtrack.cli.main import cli
from aispendtrack.config import load_config
from aispendtrack.paths import db_path
from aispendtrack.store import open_store


def invoke(*args, env=None):
    result = CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)
    return result


def test_the_config_url_names_a_postgresql_store_for_every_command(tmp_path, pg_dsn, monkeypatch):
    monkeypatch.delenv("AISPENDTRACK_DB", raising=False)
    config = tmp_path / "mitm.toml"
    config.write_text(f'[database]\nurl = "{pg_dsn}"\n')
    r = invoke("--config", str(config), "accounts", "create", "acme", "--tier", "pro")
    assert r.exit_code == 0, r.output
    with open_store(pg_dsn) as store:
        assert [a.name for a in store.list_accounts()] == ["acme"]
    assert db_path(None, load_config(config).database.url) == pg_dsn


def test_an_option_or_the_environment_beats_the_config(tmp_path, monkeypatch):
    monkeypatch.delenv("AISPENDTRACK_DB", raising=False)
    config = tmp_path / "mitm.toml"
    config.write_text(f'[database]\nurl = "{tmp_path / "configured.db"}"\n')
    assert invoke("--config", str(config), "accounts", "create", "a").exit_code == 0
    assert invoke("--config", str(config), "--db", str(tmp_path / "given.db"), "accounts", "create", "b").exit_code == 0
    r = invoke("--config", str(config), "accounts", "create", "c", env={"AISPENDTRACK_DB": str(tmp_path / "env.db")})
    assert r.exit_code == 0
    for name, accounts in (("configured.db", ["a"]), ("given.db", ["b"]), ("env.db", ["c"])):
        with open_store(tmp_path / name) as store:
            assert [a.name for a in store.list_accounts()] == accounts


def test_a_broken_database_section_stops_the_command_with_the_field_named(tmp_path, monkeypatch):
    monkeypatch.delenv("AISPENDTRACK_DB", raising=False)
    config = tmp_path / "mitm.toml"
    config.write_text('[database]\nurl = ""\n')
    r = invoke("--config", str(config), "accounts", "list")
    assert r.exit_code != 0 and "database.url" in r.output
