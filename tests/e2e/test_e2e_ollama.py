"""Ollama's native API through a real mitmdump to the fake provider speaking Ollama's wire format.

Two proxies on the same fake: one with `[providers.local] ollama = true` (calls cost $0 as
"local"), one without (unpriced, so refused under a budget). The fake is named under
`[upstreams]` as provider `ollama`, as a user names an Ollama on another port or host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal

import httpx2
import pytest

from aispendtrack.config import Config
from aispendtrack.demo.fake.server import FakeProvider, UsageSpec
from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import open_store
from support.harness import Proxy, record_replies
from support.ledger_rows import last_id, rows_after
from support.module_fake import module_fake

U = UsageSpec()  # 1200 in (400 cached), 300 out


class Gateway:
    def __init__(self, tmp, fake: FakeProvider, *, local: bool):
        self.db_path = tmp / "aispendtrack.db"
        with open_store(self.db_path) as store:
            store.create_account("acme", "enterprise")
            self.key = store.create_key("acme", Config(), name="e2e").key
            store.create_account("lab", "enterprise")
            self.budgeted = store.create_key("lab", Config(), name="budgeted").key
            store.set_budget("account", "lab", Decimal("1"), "month", now=time.time())
        config = f'[upstreams]\n"127.0.0.1:{fake.port}" = "ollama"\n'
        if local:
            config += "[providers.local]\nollama = true\n"
        modes = {"ollama": f"reverse:{fake.url}@{{port}}", "regular": "regular@{port}"}
        self.proxy = Proxy(tmp, self.db_path, modes=modes, config_text=config).start()

    def client(self, key: str | None = None) -> httpx2.Client:
        return httpx2.Client(base_url=self.proxy.url("ollama"), headers={HEADER: key or self.key}, timeout=20)

    def mark(self) -> int:
        return last_id(self.db_path)

    def rows(self, mark: int, n: int = 1, timeout: float = 10) -> list[dict]:
        return rows_after(self.db_path, mark, n, timeout)


fake = module_fake()


@pytest.fixture(scope="module")
def local(tmp_path_factory, fake):
    gw = Gateway(tmp_path_factory.mktemp("ollama-local"), fake, local=True)
    yield gw
    gw.proxy.stop()


@pytest.fixture(scope="module")
def plain(tmp_path_factory, fake):
    gw = Gateway(tmp_path_factory.mktemp("ollama-plain"), fake, local=False)
    yield gw
    gw.proxy.stop()


@pytest.fixture(autouse=True)
def sent(fake, monkeypatch):
    """request id → the bytes the fake generated; the fake reset to its defaults."""
    fake.clear()
    fake.stream_delay, fake.gzip, fake.model_override, fake.usage, fake.chunks = 0.0, False, None, UsageSpec(), 4
    return record_replies(monkeypatch)


def chat(**kw) -> dict:
    return {"model": "llama3.2", "messages": [{"role": "user", "content": "why is the sky blue?"}], **kw}


def check(row, *, api, model="llama3.2", inp=U.input, out=U.output, cached=None, streamed, pricing="local"):
    assert (row["provider"], row["api"], row["model"], row["status"], row["outcome"]) == (
        "ollama", api, model, 200, "forwarded")
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (inp, out, cached)
    assert (row["streamed"], row["partial"], row["error"]) == (int(streamed), 0, None)
    if pricing == "local":
        assert (row["pricing"], row["cost_source"], Decimal(row["cost_usd"])) == ("local", "local", 0)
    else:
        assert (row["pricing"], row["cost_usd"]) == (pricing, None)


def test_chat_streams_ndjson_by_default_and_answers_json_with_stream_false(local, fake, sent):
    m = local.mark()
    with local.client() as c:
        with c.stream("POST", "/api/chat", json=chat()) as r:  # no "stream": Ollama streams
            assert r.headers["content-type"] == "application/x-ndjson"
            streamed = b"".join(r.iter_raw())
        whole = c.post("/api/chat", json=chat(stream=False))
    rows = local.rows(m, 2)
    assert streamed == sent[fake.received[0].request_id]  # byte for byte
    lines = [json.loads(line) for line in streamed.splitlines()]
    assert lines[-1]["done"] is True and lines[-1]["prompt_eval_count"] == U.input
    assert whole.json()["eval_count"] == U.output
    check(rows[0], api="ollama-chat", streamed=True)
    check(rows[1], api="ollama-chat", streamed=False)


def test_generate_and_embed_and_the_legacy_embeddings_unmetered(local, fake, sent):
    m = local.mark()
    with local.client() as c:
        with c.stream("POST", "/api/generate", json={"model": "llama3.2", "prompt": "hi"}) as r:
            gen = b"".join(r.iter_raw())
        embed = c.post("/api/embed", json={"model": "all-minilm", "input": ["a", "b"]})
        legacy = c.post("/api/embeddings", json={"model": "all-minilm", "prompt": "a"})
    rows = local.rows(m, 3)
    assert gen == sent[fake.received[0].request_id]
    assert embed.status_code == legacy.status_code == 200 and list(legacy.json()) == ["embedding"]
    check(rows[0], api="ollama-generate", streamed=True)
    check(rows[1], api="ollama-embed", model="all-minilm", out=None, streamed=False)
    # no counts in the answer: forwarded and recorded as unmetered, never a guess
    legacy_row = rows[2]
    assert (legacy_row["api"], legacy_row["outcome"], legacy_row["pricing"]) == ("ollama-embeddings", "forwarded",
                                                                                 "unmetered")
    assert legacy_row["input_tokens"] is None and legacy_row["cost_usd"] is None


def test_missing_prompt_eval_count_is_unknown_and_the_cached_part_is_kept(local):
    m = local.mark()
    with local.client() as c:
        with c.stream("POST", "/api/chat", json=chat(), headers={"x-fake-flavor": "old"}) as r:
            r.read()
        c.post("/api/generate", json={"model": "llama3.2", "prompt": "hi", "stream": False},
               headers={"x-fake-flavor": "cached"})
    old, cached = local.rows(m, 2)
    check(old, api="ollama-chat", inp=None, streamed=True)  # unknown, not 0
    check(cached, api="ollama-generate", cached=U.cache_read, streamed=False)


def test_the_stream_is_not_buffered(local):
    m = local.mark()
    arrivals = []
    t0 = time.monotonic()
    with local.client() as c, c.stream("POST", "/api/chat", json=chat(),
                                       headers={"x-fake-stream-delay": "0.3", "x-fake-chunks": "5"}) as r:
        for line in r.iter_lines():
            if line:
                arrivals.append(time.monotonic() - t0)
    (row,) = local.rows(m)
    # 6 lines, 0.3 s apart at the fake: the first arrives long before the last is even sent
    assert len(arrivals) == 6 and arrivals[0] < 0.75 and arrivals[-1] - arrivals[0] > 1.2, arrivals
    assert row["ttfb_ms"] < row["latency_ms"] / 2
    check(row, api="ollama-chat", streamed=True)


def test_local_calls_pass_a_budget_at_zero_and_unpriced_ones_do_not(local, plain):
    m = local.mark()
    with local.client(local.budgeted) as c:
        assert c.post("/api/chat", json=chat(stream=False)).status_code == 200
    check(local.rows(m)[0], api="ollama-chat", streamed=False)

    m = plain.mark()
    with plain.client() as c:
        assert c.post("/api/chat", json=chat(stream=False)).status_code == 200
    check(plain.rows(m)[0], api="ollama-chat", streamed=False, pricing="unpriced")  # genai-prices has no Ollama

    m = plain.mark()
    with plain.client(plain.budgeted) as c:
        refused = c.post("/api/chat", json=chat(stream=False))
    assert refused.status_code == 403 and "llama3.2" in refused.json()["error"]  # Ollama's error shape
    (row,) = plain.rows(m)
    assert (row["provider"], row["outcome"], row["model"]) == ("ollama", "budget_exceeded", "llama3.2")


def test_export_and_report_say_local(local, tmp_path):
    with local.client() as c:
        assert c.post("/api/chat", json=chat(stream=False)).status_code == 200
    env = {**os.environ, "AISPENDTRACK_DB": str(local.db_path), "AISPENDTRACK_CONFIG": str(local.proxy.config_path)}
    cli = [sys.executable, "-m", "aispendtrack.cli"]
    exported = subprocess.run([*cli, "export", "--format", "jsonl"], env=env, capture_output=True, text=True,
                              check=True, cwd=tmp_path).stdout
    rows = [json.loads(line) for line in exported.splitlines()]
    assert rows and all((r["provider"], r["pricing"], r["cost_usd"]) == ("ollama", "local", "0")
                        for r in rows if r["api"] != "ollama-embeddings")
    reported = json.loads(subprocess.run([*cli, "report", "--json", "--by", "model"], env=env, capture_output=True,
                                         text=True, check=True, cwd=tmp_path).stdout)
    totals = reported["totals"]
    assert totals["local_calls"] >= 1 and totals["unpriced_calls"] == 0 and totals["cost_usd"] == "0"


def test_regular_mode_meters_an_ollama_named_under_upstreams(local, fake):
    """`HTTP_PROXY` style: the client talks to the Ollama host itself, through the proxy."""
    m = local.mark()
    with httpx2.Client(proxy=local.proxy.url("regular"), headers={HEADER: local.key}, timeout=20) as c:
        with c.stream("POST", fake.url + "/api/chat", json=chat()) as r:
            assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
            r.read()
        refused = c.post(fake.url + "/api/chat", json=chat(), headers={HEADER: "ask_wrong"})
    assert refused.status_code == 401 and set(refused.json()) == {"error"}  # Ollama's error shape
    ok, rejected = local.rows(m, 2)
    check(ok, api="ollama-chat", streamed=True)
    assert (rejected["provider"], rejected["outcome"]) == ("ollama", "rejected")
