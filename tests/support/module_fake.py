"""One fake provider per test module, for e2e modules that start one gateway for all their tests.

tests/e2e/conftest.py gives each test its own `fake`; a module whose gateway fixture is
module-scoped needs the fake to live as long, so it overrides the name: `fake = module_fake()`.
"""

import pytest

from aispendtrack.demo.fake.server import FakeProvider


def module_fake():
    @pytest.fixture(scope="module", name="fake")
    def fake():
        with FakeProvider().start() as f:
            yield f

    return fake
