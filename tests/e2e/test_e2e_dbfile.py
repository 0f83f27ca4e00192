"""The database file replaced or removed under the running proxy and `serve`, with traffic
going: a real mitmdump, a real serve, the fake provider, real SQLite files.

The processes stop using the file at once and stay refused (503) until restarted; the file
now at the path is never written into and never gets the old file's WAL; restarting them
(stop → copy → start) serves from it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
import time

import httpx2
import pytest

from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import open_store

from support.harness import MITMDUMP, Proxy, Serve, http, proxy_and_serve

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
SETTLED = 2.0  # seconds of traffic after the swap


class Traffic:
    """Provider calls through the proxy (two clients) and `/v1/me` on serve, from threads;
    every answer recorded as (monotonic time its request started, status, body)."""

    def __init__(self, proxy: Proxy, serve: Serve, key: str):
        self.proxy_url = proxy.url("openai") + "/v1/chat/completions"
        self.me_url = serve.url + "/v1/me"
        self.key = key
        self.calls: list[tuple[float, int, str]] = []
        self.me: list[tuple[float, int, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._calls, daemon=True) for _ in range(2)]
        self._threads.append(threading.Thread(target=self._me, daemon=True))

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _calls(self) -> None:
        with httpx2.Client(headers={HEADER: self.key}, timeout=20) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    r = client.post(self.proxy_url, json=CHAT)
                except httpx2.HTTPError as e:  # recorded: the assertions name what went wrong
                    self.calls.append((started, 0, f"{type(e).__name__}: {e}"))
                else:
                    self.calls.append((started, r.status_code, r.text))

    def _me(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            status, body = http("GET", self.me_url, self.key)
            self.me.append((started, status, body.decode(errors="replace")))
            time.sleep(0.02)


def all_rows(path, table: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
    finally:
        conn.close()


def integrity(path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def copy_db(src, dest) -> None:
    """An operator's consistent copy (SQLite's backup API), closed: no -wal of its own."""
    with sqlite3.connect(src) as s, sqlite3.connect(dest) as d:
        s.backup(d)
    s.close()
    d.close()


def after(answers, t0: float) -> list[tuple[float, int, str]]:
    return [a for a in answers if a[0] >= t0]


def assert_refused_from_then_on(traffic: Traffic, swapped: float, word: str) -> None:
    """Requests that started before the swap: answered from the old file (200); every one
    that started after it: 503 (the proxy and serve look at the file per request)."""
    late = after(traffic.calls, swapped + 0.05)
    assert late and {s for _, s, _ in late} == {503}, {s for _, s, _ in late}
    assert word in late[-1][2] and "restart" in late[-1][2], late[-1][2]
    assert {s for _, s, _ in after(traffic.calls, swapped)} <= {200, 503}
    me_late = after(traffic.me, swapped + 0.05)
    assert me_late and {s for _, s, _ in me_late} == {503}, me_late[-1]
    assert '"type":"storage_unavailable"' in me_late[-1][2]
    assert 500 not in {s for _, s, _ in traffic.me}, [a for a in traffic.me if a[1] == 500][:1]
    assert {s for _, s, _ in traffic.me} <= {200, 503}


@pytest.fixture
def live(db_path, config):
    with open_store(db_path) as store:  # closed: only the processes under test hold the file
        store.create_account("acme", "pro")  # limited: the limiter writes per call too
        return db_path, store.create_key("acme", config, name="e2e").key


def assert_serves_again(tmp_path, db_path, key: str) -> None:
    """Started again on the file now at the path: both answer from it; it stays intact."""
    with proxy_and_serve(tmp_path, db_path, "") as (_, proxy, serve):
        assert httpx2.post(proxy.url("openai") + "/v1/chat/completions", json=CHAT, headers={HEADER: key},
                           timeout=20).status_code == 200
        assert http("GET", serve.url + "/v1/me", key)[0] == 200
    assert integrity(db_path) == [("ok",)]


@pytest.mark.parametrize("how", ["mv", "rm"])
def test_database_file_replaced_or_removed_under_load(tmp_path, live, how):
    db_path, key = live
    backup = tmp_path / "backup.db"
    with proxy_and_serve(tmp_path, db_path, "") as (_, proxy, serve):
        with Traffic(proxy, serve, key) as traffic:
            time.sleep(1.0)
            copy_db(db_path, backup)  # the backup, taken while everything runs
            time.sleep(1.0)  # rows the backup does not have
            saved = {t: all_rows(backup, t) for t in ("calls", "accounts", "key_secrets")}
            assert saved["calls"] and len(all_rows(db_path, "calls")) > len(saved["calls"])
            swapped = time.monotonic()
            if how == "mv":
                os.replace(backup, db_path)  # `mv backup.db live.db`
            else:
                os.remove(db_path)  # `rm live.db`, then a copy put back while they still run
                time.sleep(SETTLED)
                assert not db_path.exists()  # nothing recreated in its place
                copy_db(backup, tmp_path / "restored.db")
                os.replace(tmp_path / "restored.db", db_path)
            time.sleep(SETTLED + 1.0)
        word = "replaced" if how == "mv" else "removed"
        assert_refused_from_then_on(traffic, swapped, word)
        assert "restart" in proxy.output() and word in proxy.output()
        assert "restart" in serve.output() and word in serve.output()
    assert not os.path.exists(f"{db_path}-wal")  # the old file's WAL left with the old file
    assert integrity(db_path) == [("ok",)]
    assert {t: all_rows(db_path, t) for t in saved} == saved  # not one row written into it
    assert_serves_again(tmp_path, db_path, key)  # restarted: served from the file now there
    assert len(all_rows(db_path, "calls")) == len(saved["calls"]) + 1


def test_backup_under_load_then_restore(tmp_path, live):
    """`aispendtrack backup` while calls and `/v1/me` go on; then restore: stop, copy, start."""
    db_path, key = live
    backup = tmp_path / "backup.db"
    with proxy_and_serve(tmp_path, db_path, "") as (_, proxy, serve):
        with Traffic(proxy, serve, key) as traffic:
            time.sleep(1.0)
            committed = all_rows(db_path, "calls")  # every row committed before the backup starts
            made = subprocess.run([str(MITMDUMP.parent / "aispendtrack"), "--db", str(db_path), "backup", str(backup)],
                                  capture_output=True, text=True, timeout=60)
            time.sleep(1.0)
        assert made.returncode == 0, made.stderr
        assert {s for _, s, _ in traffic.calls} == {200} and {s for _, s, _ in traffic.me} == {200}
        assert "replaced" not in proxy.output() and "removed" not in serve.output()
    copy = all_rows(backup, "calls")
    assert integrity(backup) == [("ok",)]
    assert committed and copy[:len(committed)] == committed  # every row committed before it, as it was
    assert len(all_rows(db_path, "calls")) > len(copy)  # calls went on during and after it
    assert key.encode() not in backup.read_bytes() and key not in made.stdout + made.stderr
    shutil.copyfile(backup, tmp_path / "restoring.db")  # restore: the proxy and serve are stopped
    os.replace(tmp_path / "restoring.db", db_path)
    assert_serves_again(tmp_path, db_path, key)
    assert all_rows(db_path, "calls")[:len(copy)] == copy and len(all_rows(db_path, "calls")) == len(copy) + 1
