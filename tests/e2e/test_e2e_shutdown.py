"""mitmdump stopped (SIGINT, SIGTERM) while a stream is still running: the call reached the
provider and may have cost money, so it gets its ledger row — partial, aborted, with the
tokens seen so far — before the writer closes. And its budget hold is settled by that row."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from decimal import Decimal

import anthropic
import pytest

from aispendtrack.proxy.auth import HEADER

from support.harness import Proxy


def rows(db_path) -> list[dict]:
    with sqlite3.connect(db_path) as c:
        c.row_factory = sqlite3.Row
        return [dict(r) for r in c.execute("SELECT * FROM calls ORDER BY id")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stream_running_at_shutdown_gets_its_row(tmp_path, db_path, fake, account_key, store, sig):
    store.set_budget("account", "acme", Decimal("50"), "month", now=time.time())  # the call holds money while it runs
    fake.chunks, fake.stream_delay = 40, 0.25  # ten seconds of stream: the proxy stops mid-way
    proxy = Proxy(tmp_path, db_path, modes={"main": f"reverse:{fake.url}@{{port}}"}).start()
    client = anthropic.Anthropic(base_url=proxy.url("main"), api_key="sk-ant-test", max_retries=0,
                                 default_headers={HEADER: account_key.key})
    seen, ended = [], threading.Event()

    def read():
        try:
            with client.messages.stream(model="claude-3-5-haiku-20241022", max_tokens=50,
                                        messages=[{"role": "user", "content": "hi"}]) as s:
                for event in s:
                    seen.append(event.type)
        except Exception as e:  # the proxy went away: expected
            seen.append(type(e).__name__)
        finally:
            ended.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + 15
    while seen.count("content_block_delta") < 3 and time.time() < deadline:
        time.sleep(0.02)
    assert seen.count("content_block_delta") >= 3, (seen, proxy.output())
    proxy.stop(sig)
    assert ended.wait(15)
    assert "message_stop" not in seen  # it really was cut

    [row] = rows(db_path)
    assert row["outcome"] == "aborted", row
    assert row["partial"] == 1 and row["streamed"] == 1
    assert "shut down" in (row["error"] or "")
    # message_start carried the input tokens: what the provider will bill is kept
    assert row["input_tokens"] and row["input_tokens"] > 0
    assert row["status"] == 200
    with sqlite3.connect(db_path) as c:  # the row settled the call's hold: no money stays reserved
        assert c.execute("SELECT reservation_id FROM calls").fetchone()[0]
        assert c.execute("SELECT count(*) FROM budget_reservations").fetchone()[0] == 0
        assert c.execute("SELECT sum(reserved_nano) FROM budget_spend").fetchone()[0] == 0
        assert c.execute("SELECT sum(spent_nano) FROM budget_spend").fetchone()[0] > 0
