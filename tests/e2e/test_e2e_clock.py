"""Two gateways on one PostgreSQL whose clocks differ (real mitmdump processes, one under
libfaketime): the one further than `[database] max_clock_skew_ms` from the database
server refuses to start, naming the skew; one within the bound starts, and both count
against one limit. The start-up lines never show the URL's password."""

from __future__ import annotations

import contextlib
import glob

import httpx2
import pytest

from aispendtrack.config import Config
from aispendtrack.launch import MitmdumpError
from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import open_store

from support.harness import Proxy

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
PASSWORD = "gw-s3cret"


def faketime(offset: str) -> dict[str, str]:
    found = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    assert found, "libfaketime is missing: scripts/system-deps faketime installs it (Debian package faketime)"
    return {"LD_PRELOAD": found[0], "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@pytest.fixture
def shared(pg_dsn):
    """The team's database (its URL with a password), with a key limited to 3 calls an hour."""
    url = pg_dsn.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    with open_store(url) as store:
        store.create_account("acme", "pro")
        store.set_account_limits("acme", requests_per_hour=3, monthly_calls=None)
        key = store.create_key("acme", Config()).key
    return url, key


def gateway(tmp_path, name, url, fake, env=None) -> Proxy:
    (tmp_path / name).mkdir()
    return Proxy(tmp_path / name, url, modes={"openai": "reverse:" + fake.url + "@{port}"}, env=env)


def call(proxy, key) -> int:
    return httpx2.post(proxy.url("openai") + "/v1/chat/completions", json=CHAT, headers={HEADER: key},
                       timeout=20).status_code


def test_a_gateway_whose_clock_is_too_far_refuses_to_start(tmp_path, shared, fake):
    url, key = shared
    here = gateway(tmp_path, "here", url, fake).start()
    try:
        fast = gateway(tmp_path, "fast", url, fake, env=faketime("+2s"))
        with contextlib.suppress(MitmdumpError):  # it may listen for a moment before it exits
            fast.start()
        assert fast.proc.wait(timeout=60) == 1
        out = fast.output()
        assert "AiSpendTrack database error: postgresql://postgres:***@" in out
        assert "this machine's clock is 2.0" in out and " s ahead of the database server's (±" in out
        assert "more than [database] max_clock_skew_ms = 500: synchronise the clocks (NTP)" in out
        near = gateway(tmp_path, "near", url, fake, env=faketime("+0.2s")).start()  # within the bound
        try:
            statuses = [call(p, key) for p in (here, near, here, near)]
            assert statuses == [200, 200, 200, 429]  # one limit across both
        finally:
            near.stop()
        assert "database postgresql://postgres:***@" in here.output()
        for text in (out, here.output(), near.output()):
            assert PASSWORD not in text
    finally:
        here.stop()
