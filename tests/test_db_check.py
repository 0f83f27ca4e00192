"""`aispendtrack db check`: reachable, schema version against this AiSpendTrack's, and the
clock skew between this machine and the database server (measured with the real clock:
a process under libfaketime is refused above the bound), exit 1 when any is wrong."""

import glob
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from aispendtrack.cli.main import cli
from aispendtrack.store import open_store
from aispendtrack.store.migrate import latest, too_new
from aispendtrack.store.postgres.store import PostgresStore
from aispendtrack.store.sqlite.store import SqliteStore

SQLITE, POSTGRES = latest(SqliteStore.migrations), latest(PostgresStore.migrations)  # this code's versions


def check(target, *more, ok=True):
    result = CliRunner().invoke(cli, ["--db", str(target), "db", "check", *more], catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result.output.splitlines()


def libfaketime() -> str:
    found = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    assert found, "libfaketime is missing: scripts/system-deps faketime installs it (Debian package faketime)"
    return found[0]


def check_at_offset(dsn, offset: str, *more):
    """`db check` in a process whose clock is `offset` (libfaketime, e.g. "+3s") from this machine's."""
    env = {**os.environ, "LD_PRELOAD": libfaketime(), "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    return subprocess.run([sys.executable, "-m", "aispendtrack.cli", "--db", dsn, "db", "check", *more],
                          env=env, capture_output=True, text=True, timeout=120)


def test_a_sqlite_store(tmp_path):
    path = tmp_path / "a.db"
    open_store(path).close()
    assert check(path) == [f"database: {path}", "reachable: yes (sqlite)", f"schema: version {SQLITE} (this AiSpendTrack's)",
                           "clock: this machine's own (the database is a file here: nothing to compare)"]


def test_a_missing_file_is_not_reachable_and_not_created(tmp_path):
    path = tmp_path / "none.db"
    assert check(path, ok=False)[1] == f"reachable: no (no database file at {path}; any aispendtrack command creates it)"
    assert not path.exists()


def test_a_postgresql_store(pg_dsn):
    open_store(pg_dsn).close()
    lines = check(pg_dsn)
    assert lines[:3] == [f"database: {pg_dsn}", "reachable: yes (postgres)", f"schema: version {POSTGRES} (this AiSpendTrack's)"]
    assert lines[3].startswith("clock: skew ") and lines[3].endswith(
        " ms (this machine vs the database server; at most 500 ms allowed)")
    skew = float(lines[3].split()[2])
    assert abs(skew) < 50  # one machine's clock, measured across the loopback


def test_an_empty_database_is_reported_and_left_alone(pg_dsn):
    assert check(pg_dsn)[2] == (f"schema: version 0; this AiSpendTrack's is {POSTGRES} (applied when a gateway, "
                                "serve or any other command opens it)")
    with open_store(pg_dsn, migrate_schema=False) as store:
        assert store.schema_versions()[0] == 0


def test_a_newer_schema_fails_the_check(store_target, engine):
    with open_store(store_target) as store, store.connection() as conn:
        conn.execute("INSERT INTO schema_version (version, name, applied) VALUES (999, 'future', 'x')")
    lines = check(store_target, ok=False)
    assert lines[2] == f"schema: {too_new(999, {'sqlite': SQLITE, 'postgres': POSTGRES}[engine])}"


@pytest.mark.parametrize("offset, side", [("+3s", "ahead of"), ("-3s", "behind")])
def test_a_clock_further_than_the_bound_fails_the_check(pg_dsn, offset, side):
    open_store(pg_dsn).close()
    run = check_at_offset(pg_dsn, offset)
    assert run.returncode == 1, run.stdout + run.stderr
    clock = run.stdout.splitlines()[3]
    assert clock.startswith(f"clock: this machine's clock is 3.0") and f" s {side} the database server's (±" in clock
    assert clock.endswith("more than [database] max_clock_skew_ms = 500: synchronise the clocks (NTP) of this "
                          "machine and the database server")
    allowed = check_at_offset(pg_dsn, offset, "--max-skew-ms", "5000")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "at most 5000 ms allowed" in allowed.stdout
