import subprocess

import pytest

from aispendtrack.store import keys
from aispendtrack.demo.fake.server import FakeProvider

from support.harness import Proxy


@pytest.fixture
def fake():
    with FakeProvider().start() as f:
        yield f


@pytest.fixture
def account_key(database, config):
    keys.create_account(database, "acme", "pro")
    return keys.create_key(database, "acme", config, name="e2e")


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
