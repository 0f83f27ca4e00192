"""Upstream faults through a real mitmdump: refused, reset, slow, 5xx, hang.

The client gets a 502 in the provider's JSON error format for an unreachable upstream (not
mitmproxy's HTML page) and the provider's own 5xx, the ledger records the outcome, and the proxy keeps serving other
connections while one upstream misbehaves.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time

import httpx2
import openai
import pytest

from aispendtrack.proxy.auth import HEADER
from aispendtrack.demo.fake.server import FakeProvider

from support.harness import Proxy, database_with_key, free_port, mitmdump_argv, wait_port


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    db_path, key = database_with_key(tmp, "faults")
    closed = free_port()  # nothing listens there
    fake = FakeProvider().start()
    proxy = Proxy(tmp, db_path, modes={"openai": "reverse:" + fake.url + "@{port}",
                                       "refused": f"reverse:http://127.0.0.1:{closed}@{{port}}"}).start()
    yield {"proxy": proxy, "fake": fake, "key": key, "db": db_path, "closed": closed, "tmp": tmp}
    proxy.stop()
    fake.stop()


def post(env, model: str, *, listener="openai", stream=False, fault: str | None = None, timeout=10.0, read=True):
    headers = {HEADER: env["key"], "authorization": "Bearer sk-provider"}
    if fault:
        headers["x-fake-fault"] = fault
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return httpx2.post(env["proxy"].url(listener) + "/v1/chat/completions", json=body, headers=headers, timeout=timeout)


def row(env, model: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        conn = sqlite3.connect(env["db"])
        conn.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in conn.execute("SELECT * FROM calls WHERE request_model = ?", [model])]
        finally:
            conn.close()
        if rows:
            assert len(rows) == 1, rows
            return rows[0]
        assert time.monotonic() < deadline, f"no ledger row for {model}"
        time.sleep(0.05)


def quick_call(env, model: str) -> None:
    """A normal call still answers (within post()'s 10 s timeout: a stuck proxy fails)."""
    r = post(env, model)
    assert r.status_code == 200, r.text


def test_connection_refused_is_a_provider_shaped_502(env):
    r = post(env, "m-refused", listener="refused")
    assert r.status_code == 502
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["message"] == f"AiSpendTrack: upstream 127.0.0.1:{env['closed']}: connection refused"
    rec = row(env, "m-refused")
    assert (rec["outcome"], rec["status"], rec["streamed"]) == ("upstream_error", 502, 0)
    assert rec["error"]
    quick_call(env, "m-after-refused")


def test_sdk_reads_the_upstream_failure(env):
    client = openai.OpenAI(base_url=env["proxy"].url("refused") + "/v1", api_key="sk-x", max_retries=0,
                           default_headers={HEADER: env["key"]})
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="m-sdk-refused", messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 502
    assert "upstream 127.0.0.1" in err.value.message and "connection refused" in err.value.message


def test_bare_mitmdump_answers_the_same_status(env, tmp_path):
    # with mitmproxy's default eager strategy it would drop the client without a response
    port = free_port()
    argv = mitmdump_argv([f"reverse:http://127.0.0.1:{env['closed']}@{port}"], entry=None,
                         options={"listen_host": "127.0.0.1", "confdir": tmp_path, "connection_strategy": "lazy"})
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc=proc)
        bare = httpx2.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={"model": "x"}, timeout=10)
    finally:
        proc.terminate()
        proc.wait(10)
    assert bare.status_code == 502 and "text/html" in bare.headers["content-type"]


@pytest.mark.parametrize("status, stream", [(500, False), (503, True), (529, False)])
def test_upstream_5xx_passes_through_and_is_recorded(env, status, stream):
    model = f"m-{status}-{stream}"
    r = post(env, model, stream=stream, fault=str(status))
    assert r.status_code == status
    assert env["fake"].received[-1].header(HEADER) is None
    rec = row(env, model)
    assert (rec["outcome"], rec["status"], rec["partial"]) == ("upstream_error", status, 0)
    quick_call(env, model + "-after")


def test_reset_mid_stream_is_a_partial_upstream_error(env):
    with pytest.raises(httpx2.HTTPError):
        with httpx2.stream("POST", env["proxy"].url("openai") + "/v1/chat/completions", timeout=10,
                           json={"model": "m-reset-stream", "stream": True, "messages": []},
                           headers={HEADER: env["key"], "x-fake-fault": "reset:2"}) as r:
            assert r.status_code == 200
            got = b"".join(r.iter_raw())
            raise AssertionError(f"stream ended cleanly: {got!r}")
    rec = row(env, "m-reset-stream")
    assert (rec["outcome"], rec["status"], rec["streamed"], rec["partial"]) == ("upstream_error", 200, 1, 1)
    assert rec["error"]
    quick_call(env, "m-after-reset-stream")


def test_reset_of_a_buffered_body_gives_the_client_502(env):
    r = post(env, "m-reset-body", fault="reset")
    assert r.status_code == 502  # the body never fully arrived
    assert r.json()["error"]["message"].startswith("AiSpendTrack: upstream 127.0.0.1:")
    rec = row(env, "m-reset-body")
    assert rec["outcome"] == "upstream_error" and rec["error"]
    # the ledger's status is "the HTTP status sent to the client"
    assert rec["status"] == 502, rec


def test_slow_upstream_is_waited_for_while_others_are_served(env):
    results = {}

    def slow():
        t = time.monotonic()
        results["r"] = post(env, "m-slow", fault="slow:3")
        results["t"] = time.monotonic() - t

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.2)
    quick_call(env, "m-during-slow")
    assert th.is_alive(), "the quick call was not served while the slow one was pending"
    th.join(10)
    assert results["r"].status_code == 200 and results["t"] >= 2.9
    rec = row(env, "m-slow")
    assert rec["outcome"] == "forwarded" and rec["status"] == 200
    assert rec["ttfb_ms"] >= 2900 and rec["latency_ms"] >= rec["ttfb_ms"]
    # an unknown model: its tokens are counted, its cost is unknown (never $0)
    assert (rec["pricing"], rec["cost_usd"]) == ("unpriced", None)
    assert rec["input_tokens"] == env["fake"].usage.input > 0


@pytest.mark.parametrize("stream", [True, False])
def test_hanging_upstream_client_gives_up_recorded_as_aborted(env, stream):
    model = f"m-hang-{stream}"
    results = {}

    def hang():
        t = time.monotonic()
        try:
            with httpx2.stream("POST", env["proxy"].url("openai") + "/v1/chat/completions", timeout=3,
                               json={"model": model, "stream": stream, "messages": []},
                               headers={HEADER: env["key"], "x-fake-fault": "hang:1"}) as r:
                results["status"] = r.status_code
                for _ in r.iter_raw():
                    pass
            results["error"] = None
        except httpx2.TimeoutException as e:
            results["error"] = e
        results["t"] = time.monotonic() - t

    th = threading.Thread(target=hang)
    th.start()
    time.sleep(0.3)
    for i in range(3):  # other connections are served during the hang
        quick_call(env, f"{model}-during-{i}")
    assert th.is_alive(), "the other calls were not served while the upstream hung"
    th.join(10)
    assert isinstance(results["error"], httpx2.TimeoutException), results
    rec = row(env, model)
    assert rec["outcome"] == "aborted", rec
    assert rec["partial"] == (1 if stream else 0) and rec["streamed"] == (1 if stream else 0)
    # streamed: the client saw the 200 status line; buffered: it saw nothing (NULL, not 200)
    assert rec["status"] == (200 if stream else None)
    assert rec["latency_ms"] >= 2900  # the client's 3 s read timeout
    quick_call(env, f"{model}-after")


def test_no_traceback_in_mitmdump_log(env):
    quick_call(env, "m-final")
    out = env["proxy"].output()
    assert "Traceback" not in out, out[-3000:]
