from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from aispendtrack.cli.main import cli

from aispendtrack.config import Config
from aispendtrack.store import db as dbmod
from aispendtrack.store import schema

_MIDNIGHT = pytest.StashKey[list[str]]()


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
