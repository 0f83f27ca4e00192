import pytest

from aispendtrack.store import keys
from aispendtrack.demo.fake.server import FakeProvider

from .harness import Proxy


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
