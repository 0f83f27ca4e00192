"""Both store engines in tests (a pytest plugin, loaded by tests/conftest.py).

`pg_server`: ONE PostgreSQL server for the whole run, started on first use from Debian's
`postgresql` package (`tools/aispendtrack_dev/pgserver.py`: initdb in a temporary
directory, on /dev/shm where there is one, a free loopback port, an unprivileged user when
run as root), fsync off (a test database never outlives the run). When it cannot start,
every test that needs it fails with the reason: CI must run them, so they are never skipped.
Its databases sort text like the usual deployment's (ICU `en-US`: "acme" before "Zeta"),
not bytewise like SQLite, so a query whose result depends on the collation shows it.

`engine` is parametrised over `sqlite` and `postgres`; `store_target` is a fresh store of
that engine for the test (a new SQLite file, or a new PostgreSQL database copied from one
migrated once per run), as `open_store` takes it (`target_of(engine, tmp_path)` outside a
fixture); `empty_target` one never migrated.
`pg_dsn` is a fresh, empty PostgreSQL database for tests that need one.
"""

from __future__ import annotations

import atexit
import os
import uuid

import pytest

ENGINES = ("sqlite", "postgres")
TEMPLATE = "aispendtrack_migrated"
_FAST_DIR = "/dev/shm"  # tmpfs: a new database per test costs ~0.1 s instead of ~1 s on a busy disk


LINGUISTIC = "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"


def _new_database(server, template: str = "template0", name: str | None = None) -> str:
    """A new database: a copy of `template` (a file copy: no migration per test), or an
    empty one sorting text linguistically."""
    import psycopg

    name = name or "t_" + uuid.uuid4().hex[:12]
    how = f"TEMPLATE template0 {LINGUISTIC}" if template == "template0" else f'TEMPLATE "{template}"'
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" {how} STRATEGY FILE_COPY')
    return server.dsn(name)


_started: list = []  # the run's server, or why it could not start


def shared_server():
    """The run's PostgreSQL server: started on first use (with a migrated template
    database), stopped when the run ends. Fails the calling test with the reason when it
    cannot start (and every later one, at once)."""
    if not _started:
        from aispendtrack.store import open_store
        from aispendtrack_dev.pgserver import PgServer

        server = None
        try:
            server = PgServer(fsync=False, directory=_FAST_DIR if os.access(_FAST_DIR, os.W_OK) else "/tmp").start()
            open_store(_new_database(server, name=TEMPLATE)).close()
        except Exception as e:
            if server is not None:
                server.close()
            _started.append(e)
        else:
            atexit.register(server.close)
            _started.append(server)
    got = _started[0]
    if isinstance(got, Exception):
        pytest.fail(f"PostgreSQL could not be started for the tests that need it ({type(got).__name__}): {got}",
                    pytrace=False)
    return got


def target_of(engine: str, tmp_path) -> str:
    """A fresh store of `engine`: a new SQLite file in `tmp_path`, or a new migrated
    PostgreSQL database on the run's server."""
    if engine == "sqlite":
        return str(tmp_path / "store.db")
    return _new_database(shared_server(), TEMPLATE)


@pytest.fixture(scope="session")
def pg_server():
    return shared_server()


@pytest.fixture
def pg_dsn(pg_server) -> str:
    """A new, empty database on the run's server."""
    return _new_database(pg_server)


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def store_target(engine, tmp_path) -> str:
    """Where a fresh store of `engine` is: a SQLite file path or a PostgreSQL URL."""
    return target_of(engine, tmp_path)


@pytest.fixture
def empty_target(engine, tmp_path, request) -> str:
    """Like `store_target`, but never migrated: an empty file or database."""
    if engine == "sqlite":
        return str(tmp_path / "empty.db")
    return request.getfixturevalue("pg_dsn")
