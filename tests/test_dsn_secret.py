"""The secret rule for PostgreSQL URLs: a password in `postgresql://user:PASSWORD@…` (or in
`?password=`) is never printed or logged — not by `db check` or `db migrate`, not in the
gateway's start-up line, not in any error about a server that is down, a database that
does not exist or a schema that is too new. (The test server trusts loopback logins, so
any password is accepted.)"""

import logging
import socket
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from mitmproxy.test import taddons

from aispendtrack.cli.main import cli
from aispendtrack.proxy.addon import AiSpendTrack
from aispendtrack.store import describe_target, open_store
from aispendtrack.store.postgres.dsn import describe, scrub
from aispendtrack.store.records import StoreUnavailable

SECRET = "s3cr@t-Pw"
QUOTED = quote(SECRET, safe="")  # s3cr%40t-Pw, as it stands in a URL


def with_password(dsn: str) -> str:
    return dsn.replace("postgres@", f"postgres:{QUOTED}@", 1)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shown(text: str) -> str:
    assert SECRET not in text and QUOTED not in text, text
    return text


def cli_output(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, shown(result.output)


@pytest.fixture
def dsn(pg_dsn):
    url = with_password(pg_dsn)
    open_store(url).close()
    return url


def test_describe_and_scrub_take_every_spelling_of_the_password_out():
    for url in (f"postgresql://u:{QUOTED}@db.internal:5432/x", f"postgres://u@h/x?sslmode=require&password={QUOTED}"):
        assert shown(describe(url)).count("***") == 1 and describe_target(url) == describe(url)
        assert shown(scrub(f"failed for {url} ({SECRET}, {QUOTED})", url)).count("***") == 3


def test_db_check_never_shows_it(dsn, pg_server):
    code, out = cli_output("--db", dsn, "db", "check")
    assert code == 0 and out.startswith(f"database: {describe(dsn)}\nreachable: yes")
    down = dsn.replace(f":{pg_server.port}/", f":{closed_port()}/")
    code, out = cli_output("--db", down, "db", "check")
    assert code == 1 and "reachable: no (cannot reach PostgreSQL at postgresql://postgres:***@127.0.0.1:" in out
    assert "Connection refused" in out  # the server's own reason, at once
    nowhere = dsn.rsplit("/", 1)[0] + "/no_such_db"
    code, out = cli_output("--db", nowhere, "db", "check")
    assert code == 1 and 'database "no_such_db" does not exist' in out


def test_db_migrate_never_shows_it(dsn, tmp_path):
    path = tmp_path / "local.db"
    open_store(path).close()
    code, out = cli_output("db", "migrate", "--from", str(path), "--to", dsn)
    assert code == 0 and f"Copying {path} → {describe(dsn)}" in out
    with open_store(dsn) as store:
        store.create_account("acme")
    code, out = cli_output("db", "migrate", "--from", str(path), "--to", dsn)
    assert code == 1 and "the target database is not empty" in out


def test_store_errors_never_show_it(dsn, pg_server):
    down = dsn.replace(f":{pg_server.port}/", f":{closed_port()}/")
    broken = f"postgresql://postgres:{QUOTED}@[::1/x"  # libpq quotes a URL it cannot parse, password and all
    for url, why in ((down, "Connection refused"), (broken, "end of string reached when looking for matching")):
        with pytest.raises(StoreUnavailable) as e:
            open_store(url)
        assert why in shown(str(e.value))
        code, out = cli_output("--db", url, "db", "check")
        assert code == 1 and why in out
    with open_store(dsn) as store:
        pg_server.stop()
        try:
            with pytest.raises(StoreUnavailable) as e:
                store.list_accounts()
            shown(str(e.value))
        finally:
            pg_server.start()


def start_gateway(db: str, caplog) -> bool:
    """The addon started in process on `db`: whether it is ready (its log lines in caplog)."""
    caplog.set_level(logging.DEBUG, logger="aispendtrack")
    caplog.set_level(logging.DEBUG, logger="psycopg")
    addon = AiSpendTrack()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, aispendtrack_db=db, aispendtrack_config="")
        ready = addon.rt.ready
        addon.done()
    return ready


def test_the_gateways_start_up_line_never_shows_it(dsn, caplog):
    assert start_gateway(dsn, caplog)
    assert f"database {describe(dsn)}" in shown(caplog.text)


def test_the_gateways_start_up_error_never_shows_it(dsn, pg_server, caplog):
    assert not start_gateway(dsn.replace(f":{pg_server.port}/", f":{closed_port()}/"), caplog)
    assert "AiSpendTrack database error: postgresql://postgres:***@" in shown(caplog.text)
