"""Fail closed: while the ledger cannot be kept, provider calls are answered 503, and the
proxy resumes by itself. A real mitmdump, the fake provider, a real SQLite file that is
deleted and restored, and (where this machine lets us mount a tmpfs) a full disk. Afterwards every call that reached the provider has its row."""

from __future__ import annotations

import os
import sqlite3
import time

import httpx2

from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import keys

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


def test_database_deleted_then_restored(reverse_proxy, fake, account_key, database, config, db_path):
    keys.create_account(database, "bigco", "enterprise")
    unlimited = keys.create_key(database, "bigco", config).key
    limited = account_key.key
    assert call(reverse_proxy, limited).status_code == 200 and call(reverse_proxy, unlimited).status_code == 200
    backup(db_path, db_path.with_suffix(".bak"))
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{db_path}{suffix}"):
            os.remove(f"{db_path}{suffix}")
    seen = until(reverse_proxy, unlimited, 503)
    forwarded = len(fake.received)
    refused = [call(reverse_proxy, limited), call(reverse_proxy, unlimited), call(reverse_proxy, limited, "anthropic")]
    assert [r.status_code for r in refused] == [503, 503, 503]
    assert "gone" in refused[0].json()["error"]["message"] and refused[0].headers["retry-after"]
    assert refused[2].json()["type"] == "error"  # Anthropic's error shape
    assert len(fake.received) == forwarded
    assert not db_path.exists()  # the proxy does not create an empty file in its place
    assert "restore the database file" in reverse_proxy.output()
    os.replace(db_path.with_suffix(".bak"), db_path)
    seen += until(reverse_proxy, limited, 200)
    assert call(reverse_proxy, unlimited).status_code == 200
    time.sleep(1.5)  # rows kept in memory are written on the next retry
    # every call that reached the provider, and every refusal, has its row in the restored file
    assert rows(db_path, "SELECT count(*) FROM calls WHERE outcome = 'forwarded'")[0][0] == len(fake.received)
    assert rows(db_path, "SELECT count(*) FROM calls WHERE status = 503")[0][0] == seen.count(503) + 3
    assert "writable again" in reverse_proxy.output()


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
