"""The fake provider's batch APIs, driven by the real SDKs: shapes the SDKs parse, results
answered by the fake's own handlers, a batch in progress on its first status read, and the
error / canceled / expired knobs."""

from __future__ import annotations

import io
import json

import anthropic
import openai
import pytest

from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.demo.fake.wire_batches import RESULT_PIECE


@pytest.fixture(scope="module")
def fake():
    with FakeProvider().start() as f:
        yield f


def test_openai_files_and_batches(fake):
    client = openai.OpenAI(base_url=fake.url + "/v1", api_key="x", max_retries=0)
    lines = [{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}},
             {"custom_id": "b", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "text-embedding-3-small", "input": "hi"}},
             {"custom_id": "error-c", "method": "POST", "url": "/v1/chat/completions", "body": {}}]
    up = client.files.create(file=("in.jsonl", io.BytesIO("\n".join(map(json.dumps, lines)).encode())), purpose="batch")
    assert (up.purpose, up.filename) == ("batch", "in.jsonl")
    created = client.batches.create(input_file_id=up.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert (created.status, created.output_file_id) == ("validating", None)
    done = client.batches.retrieve(created.id)
    assert done.status == "completed" and (done.request_counts.completed, done.request_counts.failed) == (2, 1)
    out = [json.loads(ln) for ln in client.files.content(done.output_file_id).text.splitlines()]
    assert [o["custom_id"] for o in out] == ["a", "b"]
    chat, emb = (o["response"]["body"] for o in out)
    assert (chat["object"], chat["model"], chat["usage"]["prompt_tokens"]) == ("chat.completion", "gpt-4o", 1200)
    assert (emb["object"], emb["model"], emb["usage"]["prompt_tokens"]) == ("list", "text-embedding-3-small", 1200)
    (err,) = [json.loads(ln) for ln in client.files.content(done.error_file_id).text.splitlines()]
    assert err["response"]["status_code"] == 400 and "usage" not in err["response"]["body"]
    assert len(fake.batches.files[done.output_file_id]["content"]) > RESULT_PIECE  # sent in several pieces


def test_anthropic_message_batches(fake):
    client = anthropic.Anthropic(base_url=fake.url, api_key="x", max_retries=0)
    params = {"model": "claude-haiku-4-5", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}
    ids = ["ok", "error-1", "cancel-1", "expire-1"]
    batch = client.messages.batches.create(requests=[{"custom_id": c, "params": params} for c in ids])
    assert (batch.processing_status, batch.results_url) == ("in_progress", None)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert [results[c].type for c in ids] == ["succeeded", "errored", "canceled", "expired"]
    assert (results["ok"].message.model, results["ok"].message.usage.output_tokens) == ("claude-haiku-4-5", 300)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.succeeded == 1
    assert ended.results_url == f"{fake.url}/v1/messages/batches/{batch.id}/results"
