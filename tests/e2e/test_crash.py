"""kill -9 mid-burst: every call a client saw complete has its ledger row; the DB survives.

Matching: every call asks for its own model name (`crash-<thread>-<n>-<kind>`); the fake
serves the requested model, and the ledger keeps it (`request_model`, `model`). So each
completed call is looked up by name — not merely counted — among rows with outcome
forwarded and status 200. A call counts as complete the moment the client has seen its
end: the SDK returned (non-streamed: the whole body was read), or the stream's terminal
event (`data: [DONE]`, `event: message_stop`) arrived — which is when SDKs stop reading.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import openai

from aispendtrack.proxy.auth import HEADER

from support.burst import burst
from support.harness import Proxy

THREADS = 4
KILL_AFTER = 40  # completed calls before kill -9


def forwarded_models(db_path) -> set[str]:
    with sqlite3.connect(db_path) as c:
        rows = c.execute("SELECT request_model, model FROM calls WHERE outcome = 'forwarded' AND status = 200")
        return {req for req, served in rows if req == served}


def test_kill9_mid_burst_loses_no_completed_call(tmp_path, db_path, fake, account_key):
    fake.chunks = 6
    modes = {"main": f"reverse:{fake.url}@{{port}}"}
    proxy = Proxy(tmp_path, db_path, modes=modes).start()
    stop, lock, done = threading.Event(), threading.Lock(), []
    threads = [threading.Thread(target=burst, args=(proxy, account_key.key, stop, done, lock, t))
               for t in range(THREADS)]
    for t in threads:
        t.start()
    deadline = time.time() + 20
    while len(done) < KILL_AFTER and time.time() < deadline:
        time.sleep(0.002)
    proxy.kill9()  # mid-burst: every thread has a call in flight
    stop.set()
    for t in threads:
        t.join(15)
    # all of them: bytes the proxy wrote just before it died may be read by a client after
    completed = list(done)
    assert len(completed) >= KILL_AFTER, proxy.output()
    assert {m.rsplit("-", 1)[-1] for m in completed} >= {"chat", "stream", "messages"}

    with sqlite3.connect(db_path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        total = c.execute("SELECT count(*) FROM calls").fetchone()[0]
    recorded = forwarded_models(db_path)
    missing = sorted(set(completed) - recorded)
    assert not missing, f"{len(missing)} completed calls have no row: {missing[:10]}"
    assert total >= len(completed)

    # a new proxy on the same database keeps serving and writing rows
    proxy2 = Proxy(tmp_path, db_path, modes=modes).start()
    try:
        client = openai.OpenAI(base_url=proxy2.url("main") + "/v1", api_key="sk-test", max_retries=0,
                               default_headers={HEADER: account_key.key})
        r = client.chat.completions.create(model="after-restart", messages=[{"role": "user", "content": "x"}])
        chunks = list(client.chat.completions.create(model="after-restart-stream", stream=True,
                                                     messages=[{"role": "user", "content": "x"}]))
        assert r.usage.prompt_tokens and chunks
        assert {"after-restart", "after-restart-stream"} <= forwarded_models(db_path)
    finally:
        proxy2.stop()
    with sqlite3.connect(db_path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c.execute("SELECT count(*) FROM calls").fetchone()[0] >= total + 2
