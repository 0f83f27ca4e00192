from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from aispendtrack.cli.main import cli

from aispendtrack.config import Config
from aispendtrack.store import db as dbmod
from aispendtrack.store import open_store

_MIDNIGHT = pytest.StashKey[list[str]]()


@pytest.fixture
def db_path(tmp_path):
    """A database file with every table (the schema's migrations applied)."""
    path = tmp_path / "aispendtrack.db"
    open_store(path).close()
    return path


@pytest.fixture
def store(db_path):
    """The store on `db_path`, the file the CLI, serve and the proxy of a test share."""
    with open_store(db_path) as store:
        yield store


@pytest.fixture
def any_store(store_target):
    """A fresh store of each engine (`store_target`, tests/engines.py: the run's one
    PostgreSQL server; a PostgreSQL test fails with the reason when it cannot start)."""
    with open_store(store_target) as s:
        yield s


@pytest.fixture
def admit():
    """Decide and count one request on `store` as the proxy's writer does:
    `admit(store, key_id, account, hourly_limit, monthly_limit, now)` → its `Decision`."""
    from aispendtrack.store.api.traffic import Admission

    def admit(store, key_id, account, hourly_limit, monthly_limit, now):
        return store.admit(Admission(key_id, account, hourly_limit, monthly_limit, now))

    return admit


@pytest.fixture
def database(db_path):
    """A plain connection to `db_path`, to look at what the store wrote."""
    database = dbmod.connect(db_path)
    yield database
    database.conn.close()


@pytest.fixture
def config():
    return Config()


@pytest.fixture
def proxy_rt(db_path):
    """`proxy_rt(config=None, *, writer=True)`: a proxy `Runtime` on `db_path` as the addon
    opens it: its store, health and one started store writer (`writer=False`: none yet, as
    before start-up). Writers and stores are closed at the end of the test."""
    from aispendtrack.proxy.state import Runtime
    from aispendtrack.store import open_store
    from aispendtrack.store.health import Health
    from aispendtrack.store.writer import StoreWriter

    made = []

    def make(config=None, *, writer=True):
        store = open_store(db_path)
        rt = Runtime(config=config or Config(), db_path=db_path, store=store, health=Health(store.target))
        made.append(rt)
        if writer:
            rt.writer = StoreWriter(store, health=rt.health)
            rt.writer.start()
        return rt

    yield make
    for rt in made:
        if rt.writer is not None:
            rt.writer.close()
        rt.store.close()


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


@pytest.fixture
def asgi():
    """Call an ASGI app in process: `asgi(app, method, path, headers=[], chunks=[b""],
    host="127.0.0.1:8090")` → (status, headers, body, body messages the app took). An
    error the app raises after answering (Starlette's 500) is kept, not raised."""
    import asyncio

    def call(app, method, path, headers=(), chunks=(b"",), host: str | None = "127.0.0.1:8090"):
        async def go():
            pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                       for i, c in enumerate(chunks)]
            taken, sent = [], []

            async def receive():
                if pending:
                    taken.append(pending[0])
                    return pending.pop(0)
                return {"type": "http.disconnect"}

            async def send(message):
                sent.append(message)

            raw = [(b"host", host.encode())] if host is not None else []
            raw += [(k.lower().encode(), v.encode()) for k, v in headers]
            path_only, _, query = path.partition("?")
            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                     "scheme": "http", "path": path_only, "raw_path": path_only.encode(),
                     "query_string": query.encode(), "root_path": "", "headers": raw,
                     "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8090)}
            try:
                await app(scope, receive, send)
            except Exception:
                pass
            start = next(m for m in sent if m["type"] == "http.response.start")
            body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
            heads = {k.decode().lower(): v.decode("latin-1") for k, v in start["headers"]}
            return start["status"], heads, body, len(taken)

        return asyncio.run(go())

    return call


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Notes the test during which a UTC midnight passed (scripts/test-dates starts two minutes
    before one): the summary names it, so a run shows which test met the day's end."""
    day = datetime.now(UTC).date()
    try:
        return (yield)
    finally:
        if datetime.now(UTC).date() != day:
            item.config.stash.setdefault(_MIDNIGHT, []).append(item.nodeid)


def pytest_terminal_summary(terminalreporter, config):
    for nodeid in config.stash.get(_MIDNIGHT, []):
        terminalreporter.write_line(f"a UTC midnight passed during {nodeid}")


# Both store engines (SQLite and a PostgreSQL server for the run): pg_server, engine, store_target.
pytest_plugins = ("engines",)


@pytest.fixture(autouse=True)
def vault_key_file(tmp_path_factory, monkeypatch):
    """Every test's vault master key file is its own (never the checkout's `var/vault.key`),
    and no master key comes from the environment unless a test sets one."""
    path = tmp_path_factory.mktemp("vault") / "vault.key"
    monkeypatch.setenv("AISPENDTRACK_VAULT_KEY_FILE", str(path))
    monkeypatch.delenv("AISPENDTRACK_VAULT_KEY", raising=False)
    return path
