"""The account plane in process: `create_app` on a temporary SQLite file made with the store's
own functions, called through Starlette's `TestClient` (no `serve` process, no socket)."""

import pytest
from fastapi.testclient import TestClient

from aispendtrack.serve.app import create_app

from support.team import CONFIG, make_team


@pytest.fixture
def team(store):
    """`support.team.make_team` on `store`: acme's owner, ada (admin), mia (member), vic
    (viewer), and rival."""
    return make_team(store)


@pytest.fixture
def api(db_path):
    """`api(method, path, key=None, *, config=CONFIG, **httpx_kwargs)` → the app's response;
    `key` goes in the x-aispendtrack-key header. One app per config, at its listen address
    (the Host check answers nothing else)."""
    apps = {}

    def call(method, path, key=None, *, config=CONFIG, **kw):
        if id(config) not in apps:
            client = TestClient(create_app(config, db_path, deliver=False), base_url=f"http://{config.serve.listen}")
            apps[id(config)] = (config, client)
        headers = {**kw.pop("headers", {}), **({"x-aispendtrack-key": key} if key else {})}
        return apps[id(config)][1].request(method, path, headers=headers, **kw)

    return call
