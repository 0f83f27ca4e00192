"""Fail closed: while the ledger cannot be kept, provider calls are answered 503. A real
mitmdump, the fake provider, a real SQLite file that is deleted (503 until the proxy is
restarted on the restored file), and (where this machine lets us mount a tmpfs) a full disk,
from which the proxy resumes by itself. Every call that reached the provider has its row."""

from __future__ import annotations

import os
import sqlite3
import time

import httpx2

from aispendtrack.proxy.auth import HEADER

from support.harness import Proxy, database_with_key, fill

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
MESSAGE = {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def call(proxy, key: str, listener: str = "openai") -> httpx2.Response:
    path, body = ("/v1/messages", MESSAGE) if listener == "anthropic" else ("/v1/chat/completions", CHAT)
    return httpx2.post(proxy.url(listener) + path, json=body, headers={HEADER: key}, timeout=20)


def until(proxy, key: str, status: int, timeout: float = 5.0) -> list[int]:
    """Call until one answer has `status`; the statuses seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(call(proxy, key).status_code)
        if seen[-1] == status:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"no {status} within {timeout}s: {seen}\n{proxy.output()[-3000:]}")


def rows(db_path, sql: str):
    with sqlite3.connect(db_path) as c:
        return c.execute(sql).fetchall()


def backup(path, dest) -> None:
    with sqlite3.connect(path) as src, sqlite3.connect(dest) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def test_database_deleted_then_restored_needs_a_restart(reverse_proxy, make_proxy, fake, account_key, store, config,
                                                       db_path):
    store.create_account("bigco", "enterprise")
    unlimited = store.create_key("bigco", config).key
    limited = account_key.key
    store.close()  # only the proxy has the file open
    assert call(reverse_proxy, limited).status_code == 200 and call(reverse_proxy, unlimited).status_code == 200
    backup(db_path, db_path.with_suffix(".bak"))
    os.remove(db_path)
    assert call(reverse_proxy, unlimited).status_code == 503  # the very next call: no call starts after it
    forwarded = len(fake.received)
    refused = [call(reverse_proxy, limited), call(reverse_proxy, unlimited), call(reverse_proxy, limited, "anthropic")]
    assert [r.status_code for r in refused] == [503, 503, 503]
    assert "removed" in refused[0].json()["error"]["message"]
    assert refused[0].headers["x-should-retry"] == "false" and "retry-after" not in refused[0].headers
    assert "restart the proxy" in refused[0].json()["error"]["message"]
    assert refused[2].json()["type"] == "error"  # Anthropic's error shape
    assert len(fake.received) == forwarded
    assert not db_path.exists()  # the proxy does not create an empty file in its place
    assert "restart the proxy and serve" in reverse_proxy.output()
    os.replace(db_path.with_suffix(".bak"), db_path)  # put back while it runs: not used
    time.sleep(1.5)
    assert call(reverse_proxy, limited).status_code == 503
    assert rows(db_path, "SELECT count(*) FROM calls")[0][0] == 2
    reverse_proxy.stop()
    restarted = make_proxy({"openai": "reverse:" + fake.url + "@{port}"})  # stop, copy, start
    assert call(restarted, limited).status_code == 200 and call(restarted, unlimited).status_code == 200
    restarted.stop()
    assert rows(db_path, "SELECT count(*) FROM calls WHERE outcome = 'forwarded'")[0][0] == len(fake.received)
    assert rows(db_path, "PRAGMA integrity_check") == [("ok",)]


def test_disk_full_unlimited_key(small_disk, tmp_path, fake):
    db_path, key = database_with_key(small_disk, "disk", tier="enterprise")  # unlimited: no limiter write
    with Proxy(tmp_path, db_path, modes={"openai": "reverse:" + fake.url + "@{port}"}) as proxy:
        assert call(proxy, key).status_code == 200
        fill(small_disk)
        until(proxy, key, 503, timeout=60)
        assert call(proxy, key).status_code == 503
        assert "free disk space" in proxy.output() or "check the database file" in proxy.output()
        os.remove(small_disk / "filler")
        until(proxy, key, 200, timeout=10)
        time.sleep(1.5)
        assert rows(db_path, "SELECT count(*) FROM calls WHERE outcome = 'forwarded'")[0][0] == len(fake.received)
