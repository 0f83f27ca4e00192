"""Reconciliation end to end: a real mitmdump on the fake provider, the official SDKs as
clients, `aispendtrack reconcile` as a real CLI process reading the fake's admin APIs.

Calls through the gateway only: every row matches. Calls straight to the fake (and synthetic
usage injected there): "gateway under" by exactly their tokens and dollars. A stream cut
before its usage: the row says so. The admin key, from the environment or the vault, is in
no log, no database file, no output, and never sent with a proxied call."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import anthropic
import httpx2
import openai
import pytest

from aispendtrack.config import Config
from aispendtrack.proxy.auth import HEADER
from support.harness import MITMDUMP

ADMIN = {"openai": "sk-admin-E2EreconcileADMINkey0123456789", "anthropic": "sk-ant-admin01-E2EreconcileADMIN0123"}
CONFIG = """
[reconcile.openai.projects]
proj_default = "acme"
[reconcile.anthropic.workspaces]
default = "acme"
"""
MSGS = [{"role": "user", "content": "hello"}]


def clear_of_midnight(margin: float) -> date:
    """The UTC day, once it has more than `margin` seconds left (waiting for the next one if
    not): every call of the module falls on it for both the gateway and the provider."""
    now = datetime.now(UTC)
    left = (datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC) - now).total_seconds()
    if left < margin:
        time.sleep(left + 1)
    return datetime.now(UTC).date()


class World:
    def __init__(self, tmp, db_path, fake, proxy, key, day):
        self.tmp, self.db_path, self.fake, self.proxy, self.key, self.day = tmp, db_path, fake, proxy, key, day
        self.outputs: list[str] = []

    def oa(self):
        return openai.OpenAI(base_url=self.proxy.url("openai") + "/v1", api_key="sk-client", max_retries=0,
                             default_headers={HEADER: self.key})

    def an(self):
        return anthropic.Anthropic(base_url=self.proxy.url("anthropic"), api_key="sk-ant-client", max_retries=0,
                                   default_headers={HEADER: self.key})

    def cli(self, *args, stdin=None, env=None, ok=True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(MITMDUMP.parent / "aispendtrack"), "--db", str(self.db_path), "--config",
                                 str(self.tmp / "mitm.toml"), *args], input=stdin, capture_output=True, text=True,
                                timeout=60, env={**os.environ, **(env or {})})
        self.outputs.append(result.stdout + result.stderr)
        assert (result.returncode == 0) == ok, result.stdout + result.stderr
        return result

    def reconcile(self, provider, *, env=None, ok=True, json_out=True):
        env = {f"{p.upper()}_ADMIN_KEY": k for p, k in ADMIN.items()} if env is None else env
        day = self.day.isoformat()
        args = ["reconcile", provider, "--since", day, "--until", day, "--base-url", self.fake.url]
        result = self.cli(*args, *(["--json"] if json_out else []), env=env, ok=ok)
        return json.loads(result.stdout) if ok and json_out else result


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from aispendtrack.demo.fake.server import FakeProvider
    from aispendtrack.store import open_store
    from support.harness import Proxy

    day = clear_of_midnight(margin=300)  # the module runs in well under 5 minutes
    tmp = tmp_path_factory.mktemp("reconcile")
    db_path = tmp / "aispendtrack.db"
    with open_store(db_path) as store:
        store.create_account("acme", "enterprise")
        key = store.create_key("acme", Config(), name="e2e").key
    fake = FakeProvider().start()
    fake.billing.admin_keys = set(ADMIN.values())
    modes = {"openai": f"reverse:{fake.url}@{{port}}", "anthropic": f"reverse:{fake.url}@{{port}}"}
    proxy = Proxy(tmp, db_path, modes=modes, config_text=CONFIG,
                  extra_args=["--set", "termlog_verbosity=debug", "--set", "flow_detail=4"]).start()
    yield World(tmp, db_path, fake, proxy, key, day)
    proxy.stop()
    fake.stop()


def settle(world, n_calls: int, timeout=10.0):
    """Wait until the ledger holds `n_calls` rows (the writer commits just after the reply)."""
    import sqlite3

    deadline = time.time() + timeout
    while True:
        with sqlite3.connect(world.db_path) as c:
            n = c.execute("SELECT count(*) FROM calls").fetchone()[0]
        if n >= n_calls or time.time() > deadline:
            assert n == n_calls
            return
        time.sleep(0.05)


def by_model(report):
    return {r["model"]: r for r in report["rows"]}


def test_calls_through_the_gateway_only_all_match(world):
    oa, an = world.oa(), world.an()
    oa.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert list(oa.chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True))
    oa.responses.create(model="gpt-4o", input="hello")
    oa.embeddings.create(model="text-embedding-3-small", input="hello")
    an.messages.create(model="claude-haiku-4-5", max_tokens=20, messages=MSGS)
    with an.messages.stream(model="claude-haiku-4-5", max_tokens=20, messages=MSGS) as s:
        s.get_final_message()
    settle(world, 6)
    for provider, models in (("openai", {"gpt-4o-mini", "gpt-4o", "text-embedding-3-small"}),
                             ("anthropic", {"claude-haiku-4-5"})):
        rep = world.reconcile(provider)
        assert set(by_model(rep)) == models
        assert {r["verdict"] for r in rep["rows"]} == {"matches"}, rep["rows"]
        assert all(r["account"] == "acme" and D(r["provider"]["usd"]) > 0 for r in rep["rows"])
        assert rep["matched_pct"] == 100.0 and rep["unexplained_usd"] == "0" and rep["unattributed"] == []
        assert rep["days"] == "UTC" and any("partial" in n for n in rep["notes"])
    assert by_model(world.reconcile("openai"))["gpt-4o-mini"]["gateway"]["requests"] == 2
    table = world.reconcile("anthropic", json_out=False).stdout
    assert "(UTC days)" in table and "matches" in table and "today, UTC" in table


def test_direct_calls_show_as_gateway_under_by_exactly_their_size(world):
    before = len(world.fake.billing.calls)
    direct = openai.OpenAI(base_url=world.fake.url + "/v1", api_key="sk-direct", max_retries=0)
    direct.chat.completions.create(model="gpt-4o-mini", messages=MSGS)  # around the gateway
    body = json.dumps({"provider": "anthropic", "model": "claude-haiku-4-5", "input": 5000, "output": 700,
                       "cache_read": 1000, "cache_write": 200, "api": "messages"}).encode()
    urllib.request.urlopen(urllib.request.Request(world.fake.url + "/fake/usage", body, method="POST",
                                                  headers={"content-type": "application/json"}))
    extra = world.fake.billing.calls[before:]
    for provider, served in zip(("openai", "anthropic"), extra):
        row = by_model(world.reconcile(provider))[served.model]
        assert row["verdict"] == "gateway under"
        d = row["difference"]
        assert (d["input_tokens"], d["cached_tokens"], d["output_tokens"]) == (
            served.input - served.cache_read, served.cache_read, served.output)
        assert D(d["usd"]) == sum(served.costs().values()) > 0
    gateway_only = by_model(world.reconcile("openai"))["gpt-4o"]
    assert gateway_only["verdict"] == "matches"  # untouched models still match


def test_a_stream_cut_before_its_usage_is_shown(world):
    rows_before = by_model(world.reconcile("openai"))["gpt-4o-mini"]
    with httpx2.Client(base_url=world.proxy.url("openai"), headers={HEADER: world.key}) as c:
        with pytest.raises(httpx2.HTTPError):
            with c.stream("POST", "/v1/chat/completions", headers={"x-fake-fault": "reset:3"},
                          json={"model": "gpt-4o-mini", "messages": MSGS, "stream": True}) as r:
                b"".join(r.iter_raw())
    settle(world, 7)
    row = by_model(world.reconcile("openai"))["gpt-4o-mini"]
    assert row["verdict"] == "gateway under" and "metering gap: 1 call" in row["note"]
    assert row["gateway"]["input_tokens"] == rows_before["gateway"]["input_tokens"]  # nothing metered for it
    assert row["provider"]["output_tokens"] > rows_before["provider"]["output_tokens"]  # the provider billed it


def test_admin_key_from_the_vault_and_never_anywhere(world):
    missing = world.reconcile("openai", env={"OPENAI_ADMIN_KEY": ""}, ok=False)
    assert "no openai admin key: set $OPENAI_ADMIN_KEY" in missing.stderr
    refused = world.reconcile("openai", env={"OPENAI_ADMIN_KEY": "sk-admin-WRONGkey000"}, ok=False)
    assert "refused (401)" in refused.stderr and "WRONGkey" not in refused.stderr
    world.cli("providers", "set", "acme", "openai", "--admin", stdin=ADMIN["openai"] + "\n")
    world.cli("providers", "set", "acme", "anthropic", "--admin", stdin=ADMIN["anthropic"])
    listed = world.cli("providers", "list", "--json").stdout
    assert {p["provider"] for p in json.loads(listed)} == {"openai.admin", "anthropic.admin"}
    for provider in ("openai", "anthropic"):
        assert world.reconcile(provider, env={f"{provider.upper()}_ADMIN_KEY": ""})["rows"]
    # a call through the gateway after the admin keys are in the vault: not sent upstream
    world.oa().chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    proxied = [r for r in world.fake.received if not r.path.startswith("/v1/organization")]
    for r in proxied:
        assert ADMIN["openai"] not in (r.header("authorization") or "")
        assert ADMIN["anthropic"] not in (r.header("x-api-key") or "")
    world.proxy.stop()
    written = [p for p in world.tmp.rglob("*") if p.is_file()]
    assert any(p.name.startswith("mitmdump") for p in written) and any(p.name.endswith(".db") for p in written)
    for secret in ADMIN.values():
        assert not any(secret in out for out in world.outputs)
        for p in written:
            assert secret.encode() not in p.read_bytes(), p
