import subprocess
from pathlib import Path

import openai
import pytest

from aispendtrack.demo.fake.server import FakeProvider

from support.clock import month, utc_today
from support.dashboard_plane import CONFIG, _seed_history, chat, new_database, refuse, refused_keys, running, settle
from support.harness import Proxy

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    """Every test in this folder starts real processes: mark it `slow`, new ones included,
    so `-m "not slow"` leaves them out of a quick local run (CI runs everything)."""
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def fake():
    with FakeProvider().start() as f:
        yield f


@pytest.fixture
def account_key(store, config):
    store.create_account("acme", "pro")
    return store.create_key("acme", config, name="e2e")


@pytest.fixture
def make_proxy(tmp_path, db_path):
    started = []

    def make(modes, config_text="", **kw):
        p = Proxy(tmp_path, db_path, modes=modes, config_text=config_text, **kw).start()
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()


@pytest.fixture
def reverse_proxy(make_proxy, fake):
    """One mitmdump with an OpenAI-shaped and an Anthropic-shaped reverse listener on the fake."""
    return make_proxy(
        {"openai": "reverse:" + fake.url + "@{port}", "anthropic": "reverse:" + fake.url + "@{port}"},
    )


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (a disk that fills up: see `harness.fill`); skipped where none can be mounted."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dashboard")
    db_path, config, store = new_database(tmp)
    with store:
        store.create_account("acme", "pro")
        store.create_account("penny", "free")
        made = {name: store.create_key("acme", config, name=name) for name in ("owner", "ci")}
        made |= refused_keys(store, config, "acme")
        made["penny"] = store.create_key("penny", config, name="penny")
        _seed_history(store, [made["owner"].id, made["ci"].id])
    with running(tmp, db_path, CONFIG, made) as plane:
        started = month(utc_today())
        for model in ("gpt-4o-mini", "gpt-4o-mini", "gpt-4o", "my-private-model"):
            chat(plane, plane["keys"]["owner"], model)
        chat(plane, plane["keys"]["ci"], stream=True)
        for _ in range(3):
            chat(plane, plane["keys"]["penny"])
        with pytest.raises(openai.RateLimitError):
            chat(plane, plane["keys"]["penny"])
        refuse(plane)
        settle(plane)
        # the month of the plane's own calls (None if one ended while they were made): later, in
        # another month, "this month" holds none of them
        plane["calls_month"] = started if month(utc_today()) == started else None
        yield plane
    logs = plane["serve"].output() + plane["proxy"].output()
    stored = b"".join(p.read_bytes() for p in (db_path, Path(f"{db_path}-wal")) if p.exists())
    for key in plane["keys"].values():
        assert key.encode() not in stored, "a key landed in the database"
        assert key not in logs, "a key landed in a log"
