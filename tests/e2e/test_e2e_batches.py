"""Batches through two real mitmdump gateways on one store (SQLite file, then PostgreSQL),
driven by the real openai and anthropic SDKs against the fake provider's batch APIs.

The results are metered as they pass: one row per (batch, model), tokens summed exactly,
priced at genai-prices' batch rate (its `processing=batch` prices), the request
count kept. A second download — through the other gateway, or through both at once — adds
no row; a download the client abandons counts nothing until one completes.
"""

from __future__ import annotations

import io
import json
import threading
import time
from decimal import Decimal

import anthropic
import genai_prices
import httpx2
import openai
import pytest

from aispendtrack.config import Config
from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.limits.budget import to_nano
from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import open_store
from support.harness import Proxy

@pytest.fixture(scope="module")
def fake():
    with FakeProvider().start() as f:
        yield f


@pytest.fixture
def gateways(tmp_path, store_target, fake):
    with open_store(store_target) as store:
        store.create_account("acme", "enterprise")
        key = store.create_key("acme", Config(), name="batches").key
        # every call below is a budgeted one: batch calls hold $0, the results pay when they pass
        store.set_budget("account", "acme", Decimal("100"), "total", now=time.time())
    started = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        started.append(Proxy(tmp_path / name, store_target, modes={"api": f"reverse:{fake.url}@{{port}}"}).start())
    yield key, started
    for p in started:
        p.stop()


def batch_rows(target) -> list:
    with open_store(target, migrate_schema=False) as store:
        return [r for r in store.export_rows() if r.batch_key is not None]


def budget_spent(target) -> tuple[int, int]:
    """(spent, still held) of acme's budget, in nano-dollars."""
    with open_store(target, migrate_schema=False) as store:
        s = store.budget_standing(store.get_budget("account", "acme"), now=time.time())
        return s.spent_nano, s.reserved_nano


def batch_cost(model: str, provider: str, n: int, *, anthropic_shape: bool) -> Decimal:
    """What `n` of the fake's default calls cost at the batch rate, by genai-prices' own
    `calc_price` with its batch price context (not our pricer)."""
    usage = {"input_tokens": 1200 * n, "output_tokens": 300 * n, "cache_read_tokens": 400 * n,
             "cache_write_tokens": 100 * n}
    if anthropic_shape:
        usage.update(cache_write_5m_tokens=100 * n, cache_write_1h_tokens=0)
    else:
        usage["output_reasoning_tokens"] = 50 * n
    return genai_prices.calc_price(genai_prices.Usage(**usage), model, provider_id=provider,
                                   price_context={"processing": "batch"}).total_price


def openai_batch(client: openai.OpenAI, n: int) -> str:
    lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}} for i in range(n)]
    lines.append({"custom_id": "error-1", "method": "POST", "url": "/v1/chat/completions", "body": {}})
    upload = client.files.create(file=("in.jsonl", io.BytesIO("\n".join(map(json.dumps, lines)).encode())),
                                 purpose="batch")
    created = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert created.output_file_id is None  # still validating
    done = client.batches.retrieve(created.id)
    assert done.status == "completed" and done.request_counts.completed == n
    return done.output_file_id


def test_openai_batch_results_counted_once_at_the_batch_rate(gateways, store_target, fake):
    key, (a, b) = gateways
    ca, cb = (openai.OpenAI(base_url=p.url("api") + "/v1", api_key="sk-x", default_headers={HEADER: key},
                            max_retries=0) for p in (a, b))
    file_id = openai_batch(ca, 3)
    content = ca.files.content(file_id).content
    assert content == fake.batches.files[file_id]["content"]  # byte for byte
    (row,) = batch_rows(store_target)
    assert (row.api, row.provider, row.model, row.outcome) == ("batch", "openai", "gpt-4o-mini", "forwarded")
    assert row.batch_key == f"openai:{file_id}"
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.reasoning_tokens) == (3600, 900, 1200, 150)
    assert row.batch_requests == 3 and row.cost_source == "genai-prices-batch" and row.pricing == "priced"
    assert Decimal(row.cost_usd) == batch_cost("gpt-4o-mini", "openai", 3, anthropic_shape=False)

    assert cb.files.content(file_id).content == content  # again, through the other gateway
    assert len(batch_rows(store_target)) == 1

    second = openai_batch(ca, 2)  # two gateways downloading one batch at the same moment
    start, got = threading.Barrier(2), []

    def download(client):
        start.wait(10)
        got.append(client.files.content(second).content)

    threads = [threading.Thread(target=download, args=(c,)) for c in (ca, cb)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == 2 and got[0] == got[1]
    rows = [r for r in batch_rows(store_target) if r.batch_key == f"openai:{second}"]
    assert [(r.input_tokens, r.batch_requests) for r in rows] == [(2400, 2)]
    total = sum(Decimal(r.cost_usd) for r in batch_rows(store_target))
    assert budget_spent(store_target) == (to_nano(total), 0)  # each batch paid once, every hold released


def test_anthropic_results_through_the_sdk_counted_once(gateways, store_target):
    key, (a, b) = gateways
    ca, cb = (anthropic.Anthropic(base_url=p.url("api"), api_key="sk-ant-x", default_headers={HEADER: key},
                                  max_retries=0) for p in (a, b))
    params = {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    batch = ca.messages.batches.create(requests=[{"custom_id": "ok-1", "params": params},
                                                 {"custom_id": "error-1", "params": params},
                                                 {"custom_id": "ok-2", "params": params}])
    assert batch.results_url is None
    results = list(ca.messages.batches.results(batch.id))  # retrieve, then the results_url: both through `a`
    assert [r.result.type for r in results] == ["succeeded", "errored", "succeeded"]
    (row,) = batch_rows(store_target)
    assert (row.provider, row.model, row.batch_key, row.batch_requests) == (
        "anthropic", "claude-sonnet-4-6", f"anthropic:{batch.id}", 2)
    assert (row.input_tokens, row.output_tokens, row.cache_read_tokens, row.cache_write_tokens) == (2400, 600, 800, 200)
    assert Decimal(row.cost_usd) == batch_cost("claude-sonnet-4-6", "anthropic", 2, anthropic_shape=True)
    assert "1 of 3 results carried no usage" in row.error
    assert len(list(cb.messages.batches.results(batch.id))) == 3
    assert len(batch_rows(store_target)) == 1


def test_an_abandoned_download_counts_nothing_until_one_completes(gateways, store_target, fake):
    key, (a, _) = gateways
    client = openai.OpenAI(base_url=a.url("api") + "/v1", api_key="sk-x", default_headers={HEADER: key}, max_retries=0)
    file_id = openai_batch(client, 4)
    url = f"{a.url('api')}/v1/files/{file_id}/content"
    with httpx2.Client(timeout=30) as http:
        with http.stream("GET", url, headers={HEADER: key, "x-fake-stream-delay": "0.05"}) as resp:
            assert resp.status_code == 200
            next(resp.iter_raw())  # the first piece, then hang up
    with open_store(store_target, migrate_schema=False) as store:
        deadline = 100
        while deadline and not [r for r in store.export_rows() if r.path.endswith(f"{file_id}/content")]:
            threading.Event().wait(0.1)
            deadline -= 1
        (cut,) = [r for r in store.export_rows() if r.path.endswith(f"{file_id}/content")]
    assert (cut.outcome, cut.batch_key, cut.input_tokens, cut.pricing) == ("aborted", None, None, "unmetered")
    assert "did not complete" in cut.error and batch_rows(store_target) == []
    assert client.files.content(file_id).content == fake.batches.files[file_id]["content"]
    (row,) = batch_rows(store_target)
    assert (row.input_tokens, row.batch_requests) == (4800, 4)


def test_a_spent_budget_stops_new_batches_never_their_results(gateways, store_target, fake):
    key, (a, _) = gateways
    client = openai.OpenAI(base_url=a.url("api") + "/v1", api_key="sk-x", default_headers={HEADER: key}, max_retries=0)
    file_id = openai_batch(client, 2)
    with open_store(store_target) as store:  # no money left
        store.set_budget("account", "acme", Decimal("0"), "total", now=time.time())
    with pytest.raises(openai.RateLimitError):  # a new batch is refused: 429 budget_exceeded
        openai_batch(client, 1)
    content = client.files.content(file_id).content  # its results are not: already billed
    assert content == fake.batches.files[file_id]["content"]
    (row,) = batch_rows(store_target)
    assert (row.input_tokens, row.batch_requests) == (2400, 2)
    spent, held = budget_spent(store_target)
    assert held == 0 and spent >= to_nano(Decimal(row.cost_usd))  # the results' cost reached the budget
    (batch_id,) = [b for b, o in fake.batches.batches.items() if o.get("output_file_id") == file_id]
    assert client.batches.retrieve(batch_id).status == "completed"  # status passes too
