"""Saved flows and the ledger: a flow read back from a file never adds a second row.

A real mitmdump saves its flows (`-w`), one of them still streaming when it stops (saved
before its row). Reading the file back (`mitmdump -nr`, what mitmweb's Open does) into the
same database adds no row; a client replay (`mitmdump -nC`, mitmweb's Replay) sends each
request again, so each is a new call with a row of its own, re-authorised from the key id
recorded on the flow.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time

import httpx2

from aispendtrack.demo.fake.server import Fault
from aispendtrack.launch import mitmdump_argv
from aispendtrack.proxy.auth import HEADER

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def ledger(db_path) -> list[tuple]:
    with sqlite3.connect(db_path) as c:
        return c.execute("SELECT id, flow_id, outcome, key_id FROM calls ORDER BY id").fetchall()


def offline(tmp_path, db_path, *args) -> str:
    """mitmdump with the addon, no proxy server (`-n`), on the same config and database."""
    argv = mitmdump_argv([], options={"aispendtrack_db": db_path, "aispendtrack_config": tmp_path / "mitm.toml",
                                      "confdir": tmp_path / "mitmproxy-conf"}, args=["-n", *args])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_saved_flows_read_back_add_no_row_and_replays_are_calls_of_their_own(make_proxy, fake, account_key,
                                                                            db_path, tmp_path):
    flows = tmp_path / "flows"
    proxy = make_proxy({"openai": "reverse:" + fake.url + "@{port}"}, extra_args=["-w", str(flows)])
    url, key = proxy.url("openai") + "/v1/chat/completions", {HEADER: account_key.key}
    assert httpx2.post(url, json=CHAT, headers=key).status_code == 200
    assert httpx2.post(url, json={**CHAT, "stream": True}, headers=key).status_code == 200
    assert httpx2.post(url, json=CHAT).status_code == 401
    fake.fail(Fault.hang(after=2))
    started = threading.Event()

    def in_flight():
        try:
            with httpx2.stream("POST", url, json={**CHAT, "stream": True}, headers=key, timeout=30) as r:
                started.set()
                for _ in r.iter_raw():
                    pass
        except httpx2.HTTPError:
            pass

    t = threading.Thread(target=in_flight)
    t.start()
    assert started.wait(20)
    time.sleep(0.5)
    proxy.stop()  # the streaming flow is saved as it is, before any row of it
    t.join(20)
    live = ledger(db_path)
    assert len(fake.received) == 3 and len(live) >= 3

    offline(tmp_path, db_path, "-r", str(flows))
    assert ledger(db_path) == live

    offline(tmp_path, db_path, "-C", str(flows))
    replayed = ledger(db_path)[len(live):]
    assert len(fake.received) == 3 + 3  # the three calls with a key on record went out again
    assert [(r[2], r[3]) for r in replayed].count(("forwarded", account_key.id)) == 3
    assert [(r[2], r[3]) for r in replayed].count(("rejected", None)) == 1
    assert len(replayed) == 4 and len({r[1] for r in replayed}) == 4
