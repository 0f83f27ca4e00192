"""The vault on a team's PostgreSQL store: two gateways (separate processes and directories)
given the master key as `AISPENDTRACK_VAULT_KEY`, as the README says a team runs it. Both
set the stored key upstream in place of the client's; a key replaced through the store is in
force on both within moments (PostgreSQL's change signal); no plaintext in the database."""

from __future__ import annotations

import base64
import os
import time

import httpx2

from aispendtrack.config import Config
from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import open_store
from aispendtrack.vault import service

from support.harness import Proxy

FIRST = "sk-proj-TEAM-VAULTED-FIRST-0000aaaa"
SECOND = "sk-proj-TEAM-VAULTED-SECOND-1111bbbb"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_two_gateways_on_postgres_inject_the_teams_key(tmp_path, pg_dsn, fake, monkeypatch):
    monkeypatch.setenv("AISPENDTRACK_VAULT_KEY", base64.b64encode(os.urandom(32)).decode())
    with open_store(pg_dsn) as store:
        store.create_account("acme", "pro")
        key = store.create_key("acme", Config()).key
        service.store_secret(store, "acme", "openai", None, FIRST, "ops")
        gateways = []
        try:
            for i in range(2):
                where = tmp_path / f"gateway-{i}"
                where.mkdir()
                gateways.append(Proxy(where, pg_dsn, modes={"openai": f"reverse:{fake.url}@{{port}}"}).start())

            def call(gw) -> str:
                r = httpx2.post(gw.url("openai") + "/v1/chat/completions", json=BODY, timeout=30,
                                headers={HEADER: key, "authorization": "Bearer sk-client-own-key-zzzz"})
                assert r.status_code == 200, r.text
                return fake.received[-1].header("authorization")

            assert [call(gw) for gw in gateways] == [f"Bearer {FIRST}"] * 2
            service.store_secret(store, "acme", "openai", None, SECOND, "ops")
            for gw in gateways:
                deadline = time.monotonic() + 10
                while (got := call(gw)) != f"Bearer {SECOND}":
                    assert got == f"Bearer {FIRST}" and time.monotonic() < deadline
                    time.sleep(0.1)
            assert all("sk-client-own-key" not in (r.header("authorization") or "") for r in fake.received)
            with store.connection() as conn:
                dump = repr(conn.execute("SELECT * FROM provider_credentials").fetchall())
            assert FIRST not in dump and SECOND not in dump and "…bbbb" in dump
        finally:
            for gw in gateways:
                gw.stop()
