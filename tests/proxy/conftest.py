import pytest

from aispendtrack.proxy.keycache import KeyCache
from aispendtrack.proxy.state import Runtime


@pytest.fixture
def rt(store, config):
    """A proxy `Runtime` with its key cache on `store` (the test's SQLite file)."""
    cache = KeyCache(store, config)
    cache.start()
    yield Runtime(config=config, db_path=store.target, store=store, keycache=cache)
    cache.stop()
