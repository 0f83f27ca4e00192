import pytest

from aispendtrack.proxy.state import Runtime
from aispendtrack.store.keycache import KeyCache


@pytest.fixture
def rt(db_path, config):
    cache = KeyCache(db_path, config)
    cache.start()
    yield Runtime(config=config, db_path=db_path, keycache=cache)
    cache.stop()
