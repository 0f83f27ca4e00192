"""Batches in the proxy: which paths are results, objects and files; the batch key; the
rows of a complete, an abandoned and an empty download; $0 budget holds; a model-limited
key cannot slip models in through a batch; an Anthropic results_url pointed back at a
reverse listener."""

import json
import time

import pytest
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow, tutils

from aispendtrack.config import Config
from aispendtrack.meter.pricing import Pricer
from aispendtrack.proxy import batches, charge, providers
from aispendtrack.proxy.access import Access
from aispendtrack.proxy.state import META, FlowState, Runtime
from aispendtrack.store.budgets import Charge
from support import batch_samples as s


@pytest.mark.parametrize("path, api", [
    ("/v1/files/file-abc/content", "batch"),
    ("/v1/messages/batches/msgbatch_01/results", "batch"),
    ("/v1/messages/batches/msgbatch_01/results?beta=true", "batch"),
    ("/v1/batches", "batches"),
    ("/v1/batches/batch_abc", "batches"),
    ("/v1/batches/batch_abc/cancel", "batches"),
    ("/v1/messages/batches", "batches"),
    ("/v1/messages/batches/msgbatch_01", "batches"),
    ("/v1/files", "files"),
    ("/v1/files/file-abc", "files"),
    ("/v1/messages", "messages"),  # unchanged
    ("/v1/chat/completions", "chat"),
])
def test_paths(path, api):
    assert providers.api_of(path) == api


def test_an_unnamed_upstream_serving_anthropic_batches_is_anthropic():
    f = tflow.tflow()
    f.client_conn.proxy_mode = ProxyMode.parse("reverse:http://127.0.0.1:9")
    for path, provider in (("/v1/messages/batches/msgbatch_1/results", "anthropic"), ("/v1/files/f/content", "openai")):
        f.request.path = path
        t = providers.identify(f, Config())
        assert (t.provider, t.api) == (provider, "batch")


def test_batch_keys():
    assert batches.batch_key("openai", "/v1/files/file-abc/content") == "openai:file-abc"
    assert batches.batch_key("anthropic", "/v1/messages/batches/msgbatch_1/results?x=1") == "anthropic:msgbatch_1"
    assert batches.batch_key("openai", "/v1/files/file-abc") is None


def state(api="batch", provider="openai", **kw):
    return FlowState(provider, api, "openai", 1_795_683_600.0, account="acme", tier="pro", key_id="key_1", **kw)


def download(body: bytes, *, pieces=1, end=True, status=200, path="/v1/files/file-abc/content", commit=None):
    f = tflow.tflow(resp=tutils.tresp(status_code=status))
    f.request.path = path
    del f.response.headers["content-length"]
    f.response.headers["transfer-encoding"] = "chunked"  # the end is known at b"" only
    st = state()
    assert batches.observe(f, st, commit) is (status == 200)
    if status == 200:
        size = max(1, len(body) // pieces)
        out = b"".join(f.response.stream(body[i:i + size]) for i in range(0, len(body), size))
        assert out == body
        if end:
            assert f.response.stream(b"") == []
    return f


def base_row():
    return {"ts": 1_795_683_600.0, "provider": "openai", "outcome": "forwarded", "partial": False, "error": None,
            "model": None, "input_tokens": None, "pricing": "unmetered", "cost_usd": None, "reservation_id": "r1"}


def test_a_complete_download_gives_one_row_per_model_priced_at_the_batch_rate():
    body = s.jsonl([s.openai_line(1), s.openai_line(2), s.openai_line(3, "gpt-4o"), s.openai_error_line(4)])
    rows = batches.rows_of(download(body, pieces=5), base_row(), Pricer())
    assert [(r["model"], r["input_tokens"], r["batch_requests"], r["batch_key"]) for r in rows] == [
        ("gpt-4o", 120, 1, "openai:file-abc"), ("gpt-4o-mini", 240, 2, "openai:file-abc")]
    assert all(r["pricing"] == "priced" and r["cost_source"] == "genai-prices-batch" for r in rows)
    assert all(r["reservation_id"] == "r1" for r in rows)  # one hold, settled by their sum
    assert "1 of 4 results carried no usage" in rows[0]["error"]


def test_with_a_content_length_the_rows_commit_before_the_last_byte_goes_out():
    """The client has the whole file at its last byte, before the `response` hook: the rows
    must be committed by then (a chunked body ends with its last chunk, sent after the hook)."""
    body = s.jsonl([s.openai_line(1), s.openai_line(2)])
    f = tflow.tflow(resp=tutils.tresp())
    f.request.path = "/v1/files/file-abc/content"
    f.response.headers["content-length"] = str(len(body))
    sent, committed = [], []

    def commit():
        committed.append((len(b"".join(sent)), f.response.stream.meter.ended,
                          batches.rows_of(f, base_row(), Pricer())[0]["batch_requests"]))
        return None

    assert batches.observe(f, state(), commit)
    for i in range(0, len(body), 7):
        sent.append(f.response.stream(body[i:i + 7]))
    assert committed == [(len(body) - len(body[(len(body) - 1) // 7 * 7:]), True, 2)]  # before the last piece
    assert f.response.stream(b"") == [] and len(committed) == 1  # the end of the body: nothing again
    assert b"".join(sent) == body


def test_a_chunked_download_is_committed_by_the_response_hook_not_the_observer():
    committed = []
    download(s.jsonl([s.openai_line(1)]), pieces=3, commit=lambda: committed.append(1))
    assert committed == []


def test_an_abandoned_download_counts_nothing():
    body = s.jsonl([s.openai_line(1), s.openai_line(2)])
    (row,) = batches.rows_of(download(body, end=False), {**base_row(), "outcome": "aborted"}, Pricer())
    assert row.get("batch_key") is None and row["input_tokens"] is None and batches.NOT_COUNTED in row["error"]


def test_a_file_without_results_is_one_unmetered_row():
    body = s.jsonl([{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {}}])
    (row,) = batches.rows_of(download(body), base_row(), Pricer())
    assert row["pricing"] == "unmetered" and "no billed results" in row["error"] and row.get("batch_key") is None


def test_an_error_answer_is_not_observed():
    f = download(b"", status=404)
    assert batches.rows_of(f, row := base_row(), Pricer()) == [row]


@pytest.mark.parametrize("api", ["batch", "batches", "files"])
def test_batch_calls_hold_next_to_nothing_under_a_budget(api):
    f = tflow.tflow()
    f.request.path = "/v1/batches"
    f.request.raw_content = json.dumps({"input_file_id": "file-1", "endpoint": "/v1/chat/completions"}).encode()
    assert charge.bound(f, state(api), Config(), Pricer()) == charge.Bound(Charge(1, None))  # a nano-dollar


@pytest.mark.parametrize("method, path, exempt", [
    ("POST", "/v1/batches", False),  # creating: checked against the budget
    ("POST", "/v1/messages/batches", False),
    ("POST", "/v1/messages/batches?beta=true", False),
    ("POST", "/v1/files", False),  # uploading a batch's input
    ("GET", "/v1/files/file-1/content", True),  # results: already billed
    ("GET", "/v1/messages/batches/msgbatch_1/results", True),
    ("GET", "/v1/batches/batch_1", True),  # status
    ("GET", "/v1/batches", True),  # list
    ("POST", "/v1/batches/batch_1/cancel", True),  # cancel saves money
    ("POST", "/v1/messages/batches/msgbatch_1/cancel", True),
    ("POST", "/v1/chat/completions", False),
])
def test_which_batch_calls_a_spent_budget_never_stops(method, path, exempt):
    f = tflow.tflow()
    f.request.method, f.request.path = method, path
    assert batches.budget_exempt(f, state(providers.api_of(path))) is exempt


@pytest.mark.parametrize("path, body", [
    ("/v1/batches", {"input_file_id": "file-1", "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
    ("/v1/messages/batches", {"requests": [{"custom_id": "a", "params": {"model": "gpt-4o-mini", "max_tokens": 5}},
                                           {"custom_id": "b", "params": {"model": "claude-opus-4-6", "max_tokens": 5}}]}),
    ("/v1/files/file-1/content", None),
    ("/v1/messages/batches/msgbatch_1/results", None),
])
def test_a_model_limited_key_cannot_use_batches(path, body):
    """The models of a batch are inside it (or in an uploaded file): a key limited to some
    models could run any model that way, so every batch call is refused for it."""
    f = tflow.tflow()
    f.request.path = path
    f.request.content = b"" if body is None else json.dumps(body).encode()
    f.metadata[META] = FlowState("openai", providers.api_of(path), "openai", time.time(), key_id="key_1",
                                 models=["gpt-4o-mini"])
    access = Access(Runtime())
    with taddons.context(access):
        access.requestheaders(f)
        access.request(f)
    assert f.response is not None and f.response.status_code == 403
    assert "may not call a request that names no model" in f.response.json()["error"]["message"]


def batch_object(f, mode: str | None, body: dict, *, tls: bool = False):
    f.response = tutils.tresp(content=json.dumps(body).encode())
    f.response.headers["content-type"] = "application/json"
    f.request.path = "/v1/messages/batches/msgbatch_1"
    if mode:
        f.client_conn.proxy_mode = ProxyMode.parse(mode)
    f.client_conn.sockname = ("127.0.0.1", 8123)
    if not tls:
        f.client_conn.timestamp_tls_setup = None  # a plain-HTTP listener
    f.metadata[META] = state("batches", "anthropic")
    with taddons.context(objects := batches.BatchObjects(Runtime())):
        objects.response(f)
    return f.response.json()


def test_an_anthropic_results_url_points_back_at_the_reverse_listener():
    url = "https://api.anthropic.com/v1/messages/batches/msgbatch_1/results"
    got = batch_object(tflow.tflow(), "reverse:https://api.anthropic.com", {"id": "msgbatch_1", "results_url": url})
    assert got["results_url"] == "http://127.0.0.1:8123/v1/messages/batches/msgbatch_1/results"
    listed = batch_object(tflow.tflow(), "reverse:https://api.anthropic.com",
                          {"data": [{"id": "b1", "results_url": url}, {"id": "b2", "results_url": None}]})
    assert [b["results_url"] for b in listed["data"]] == [got["results_url"], None]
    assert batch_object(tflow.tflow(), None, {"id": "msgbatch_1", "results_url": url})["results_url"] == url
    over_tls = batch_object(tflow.tflow(), "reverse:https://api.anthropic.com", {"results_url": url}, tls=True)
    assert over_tls["results_url"] == "https://127.0.0.1:8123/v1/messages/batches/msgbatch_1/results"
