"""The metering step, loaded alone in mitmproxy's test context: flow in, ledger row out.

Then the durability promise, held deterministically: the end of a response (its
`response` hook, or the held end of a stream) never gets ahead of its ledger row's
commit. The writer there commits only when a gate opens; the gate is opened by the test,
or by the stream's end waiting on the row's future. No sleeps decide the outcome. (The
kill -9 tests in `test_ledger.py` and `e2e/test_crash.py` hold the same promise with a
real crash.)
"""

import asyncio
import concurrent.futures
import json
import sqlite3
import threading
import time

import pytest
from mitmproxy import http
from mitmproxy.test import taddons, tflow

from aispendtrack.proxy import metering as metering_mod
from aispendtrack.proxy.metering import Metering
from aispendtrack.proxy.state import META, FlowState, state_of
from aispendtrack.store import db as dbmod
from aispendtrack.store.writer import StoreWriter

BODY = {"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}


def chat_flow(status=200) -> http.HTTPFlow:
    f = tflow.tflow(resp=True)
    f.request.path = "/v1/chat/completions"
    f.request.content = json.dumps({"model": "gpt-4o-mini", "messages": []}).encode()
    f.response.status_code = status
    f.response.headers["content-type"] = "application/json"
    f.response.content = json.dumps(BODY).encode()
    state = FlowState("openai", "chat", "openai", time.time())
    state.key_id, state.account = "key_1", "acme"
    f.metadata[META] = state
    return f


def metered(proxy_rt, db_path, config, *flows):
    rt = proxy_rt(config)
    metering = Metering(rt)

    async def main():
        with taddons.context(metering) as tctx:
            metering.start()
            try:
                for f in flows:
                    response, f.response = f.response, None
                    await tctx.cycle(metering, f)  # requestheaders, request
                    f.response = response
                    metering.responseheaders(f)
                    await metering.response(f)
            finally:
                rt.writer.close()

    asyncio.run(main())
    database = dbmod.connect(db_path)
    rows = list(database.query("SELECT * FROM calls ORDER BY id"))
    database.conn.close()
    return rt, rows


def test_a_forwarded_call_becomes_one_priced_row(proxy_rt, db_path, config):
    f = chat_flow()
    rt, rows = metered(proxy_rt, db_path, config, f)
    (row,) = rows
    assert (row["key_id"], row["account"], row["outcome"], row["status"]) == ("key_1", "acme", "forwarded", 200)
    assert (row["input_tokens"], row["output_tokens"], row["request_model"]) == (12, 3, "gpt-4o-mini")
    assert row["pricing"] == "priced" and row["cost_usd"]
    assert state_of(f).recorded and "12 in" in f.comment
    assert rt.session.totals.calls == 1 and rt.session.totals.input_tokens == 12


def test_a_gemini_row_stores_the_reported_usage_and_the_cache_modalities_left_out_as_zero(proxy_rt, db_path, config):
    """usage_json keeps every count the provider reported; cacheTokensDetails naming TEXT only adds the
    cache's other modalities as 0, which prices the audio prompt exactly."""
    f = tflow.tflow(resp=True)
    f.request.path = "/v1beta/models/gemini-2.5-flash:generateContent"
    f.request.content = b'{"contents": []}'
    usage = {"promptTokenCount": 1500, "candidatesTokenCount": 100, "totalTokenCount": 1600,
             "cachedContentTokenCount": 800,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}, {"modality": "AUDIO", "tokenCount": 500}],
             "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 800}]}
    f.response.headers["content-type"] = "application/json"
    f.response.content = json.dumps({"candidates": [{"finishReason": "STOP"}], "usageMetadata": usage,
                                     "modelVersion": "gemini-2.5-flash"}).encode()
    f.metadata[META] = FlowState("google", "generate", "google", time.time())
    _, (row,) = metered(proxy_rt, db_path, config, f)
    assert json.loads(row["usage_json"]) == {
        "input_tokens": 1500, "output_tokens": 100, "cache_read_tokens": 800, "input_text_tokens": 1000,
        "input_audio_tokens": 500, "cache_text_read_tokens": 800, "cache_audio_read_tokens": 0,
        "cache_image_read_tokens": 0, "cache_video_read_tokens": 0}
    assert (row["model"], row["pricing"], row["cost_usd"]) == ("gemini-2.5-flash", "priced", "0.000834")


def test_an_upstream_error_is_recorded_unmetered(proxy_rt, db_path, config):
    f = chat_flow(status=500)
    _, (row,) = metered(proxy_rt, db_path, config, f)
    assert (row["outcome"], row["status"], row["pricing"], row["input_tokens"]) == ("upstream_error", 500, "unmetered", None)


def test_flows_not_ours_leave_no_row(proxy_rt, db_path, config):
    _, rows = metered(proxy_rt, db_path, config, tflow.tflow(resp=True))
    assert rows == []


# The durability promise


class _WaitOpensGate(concurrent.futures.Future):
    def __init__(self, gate: threading.Event):
        super().__init__()
        self._gate = gate

    def result(self, timeout=None):
        self._gate.set()
        return super().result(timeout)


class Gated:
    """The real store, but a batch is committed only once `gate` is open."""

    def __init__(self, store):
        self.store, self.gate = store, threading.Event()

    def write(self, batch):
        self.gate.wait(30)
        return self.store.write(batch)

    def __getattr__(self, name):
        return getattr(self.store, name)


class GatedWriter(StoreWriter):
    """A real writer whose commits wait for `gate`; with `open_on_wait`, a thread
    waiting on a submitted row's future opens it."""

    def __init__(self, store, *, open_on_wait: bool):
        super().__init__(Gated(store))
        self.gate = self.store.gate
        self.open_on_wait = open_on_wait

    def submit(self, row):
        real = super().submit(row)
        if not self.open_on_wait:
            return real
        fut = _WaitOpensGate(self.gate)
        fut.set_running_or_notify_cancel()
        real.add_done_callback(lambda done: fut.set_exception(done.exception()) if done.exception()
                               else fut.set_result(done.result()))
        return fut


def committed_rows(db_path) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM calls").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def metering(proxy_rt, config):
    rt = proxy_rt(config)
    m = Metering(rt)
    m.start()
    rt.writer.close()  # replaced by `gated`
    yield m
    if isinstance(rt.writer, GatedWriter):
        rt.writer.gate.set()
        rt.writer.close()


def gated(metering, db_path, *, open_on_wait=False) -> GatedWriter:
    w = GatedWriter(metering.rt.store, open_on_wait=open_on_wait)
    w.start()
    metering.rt.writer = w
    return w


def forwarded_flow(*, streamed: bool) -> http.HTTPFlow:
    """A forwarded chat call past the request hook, its response not yet metered."""
    f = chat_flow()
    state = state_of(f)
    state.request_model, state.stream = "gpt-4o-mini", streamed
    if streamed:
        f.response.headers["content-type"] = "text/event-stream"
        f.response.content = b""
    return f


def sse_chunks() -> list[bytes]:
    usage_chunk = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini", "choices": [],
                   "usage": BODY["usage"]}
    return [f"data: {json.dumps(usage_chunk)}\n\n".encode(), b"data: [DONE]\n\n"]


async def ticks(n=50):
    for _ in range(n):
        await asyncio.sleep(0)


def test_response_hook_returns_only_after_the_row_is_committed(metering, db_path):
    writer = gated(metering, db_path)
    f = forwarded_flow(streamed=False)

    async def scenario():
        task = asyncio.create_task(metering.response(f))
        await ticks()
        assert not task.done(), "the response hook finished before its ledger row was committed"
        assert committed_rows(db_path) == 0
        writer.gate.set()
        await asyncio.wait_for(task, 10)
        assert committed_rows(db_path) == 1

    asyncio.run(scenario())


def test_error_hook_returns_only_after_the_row_is_committed(metering, db_path):
    writer = gated(metering, db_path)
    f = forwarded_flow(streamed=False)
    f.error = tflow.terr("Client disconnected.")

    async def scenario():
        task = asyncio.create_task(metering.error(f))
        await ticks()
        assert not task.done()
        writer.gate.set()
        await asyncio.wait_for(task, 10)
        assert committed_rows(db_path) == 1

    asyncio.run(scenario())


def test_stream_end_is_held_until_the_row_is_committed(metering, db_path, monkeypatch):
    monkeypatch.setattr(metering_mod, "COMMIT_WAIT", 30.0)
    gated(metering, db_path, open_on_wait=True)
    f = forwarded_flow(streamed=True)
    metering.responseheaders(f)
    observer = f.response.stream
    sent = b"".join(bytes(observer(c) or b"") for c in sse_chunks())
    assert b"[DONE]" not in sent  # the terminal event is held back...
    end = observer(b"")  # ...until the upstream ends and the row is committed
    assert committed_rows(db_path) == 1, "the stream's end went out before its ledger row was committed"
    assert b"[DONE]" in end
    assert observer.pending is not None and observer.pending.done()


def test_a_commit_slower_than_the_stream_wait_is_awaited_by_the_response_hook(metering, db_path, monkeypatch):
    monkeypatch.setattr(metering_mod, "COMMIT_WAIT", 0.01)  # the loop stops waiting at once
    writer = gated(metering, db_path)
    f = forwarded_flow(streamed=True)
    metering.responseheaders(f)
    observer = f.response.stream
    for c in sse_chunks():
        observer(c)
    assert b"[DONE]" in observer(b"") and committed_rows(db_path) == 0

    async def scenario():
        task = asyncio.create_task(metering.response(f))
        await ticks()
        assert not task.done(), "the response hook did not wait for the stream's pending row"
        writer.gate.set()
        await asyncio.wait_for(task, 10)
        assert committed_rows(db_path) == 1

    asyncio.run(scenario())


def test_a_path_routed_call_records_the_paths_model_not_the_bodys(proxy_rt, db_path, config):
    """Gemini serves the model its path names: that one is ledgered (and priced) even when
    the body names another and the response does not say."""
    f = tflow.tflow(resp=True)
    f.request.path = "/v1beta/models/gemini-2.5-pro:generateContent"
    f.request.content = json.dumps({"model": "gpt-4o-mini", "contents": []}).encode()
    f.response.headers["content-type"] = "application/json"
    f.response.content = json.dumps({"candidates": [], "usageMetadata": {
        "promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}}).encode()
    f.metadata[META] = FlowState("google", "generate", "google", time.time(), key_id="key_1", account="acme")
    _, (row,) = metered(proxy_rt, db_path, config, f)
    assert (row["model"], row["request_model"], row["pricing"]) == ("gemini-2.5-pro", "gemini-2.5-pro", "priced")


@pytest.mark.parametrize("hook", ["response", "error"])
def test_a_flow_loaded_from_a_file_adds_no_row(proxy_rt, db_path, config, hook):
    """`mitmdump -r` and mitmweb's Open run a saved flow through the hooks, not live. One
    saved before its row (in flight when the proxy stopped) is a record, not a call."""
    from mitmproxy import flow as mflow

    f = chat_flow()
    saved = f.get_state()
    loaded = http.HTTPFlow.from_state(saved)
    assert not loaded.live and not state_of(loaded).recorded
    if hook == "error":
        loaded.error = mflow.Error("Client disconnected.")
    rt = proxy_rt(config)
    m = Metering(rt)

    async def main():
        with taddons.context(m):
            m.start()
            try:
                m.responseheaders(loaded)
                await getattr(m, hook)(loaded)
            finally:
                rt.writer.close()

    asyncio.run(main())
    assert committed_rows(db_path) == 0
    assert not state_of(loaded).recorded and loaded.response.stream is False
    assert rt.session.totals.calls == 0
