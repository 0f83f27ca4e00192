"""Fail closed: a replaced or removed database file is never followed (the store's `DbFile`),
problems reach `Health`, the guard answers 503."""

import asyncio
import logging
import os
import sqlite3
import time

import pytest
from fastapi.testclient import TestClient
from mitmproxy.test import taddons, tflow

from aispendtrack.proxy import keycache
from aispendtrack.proxy.auth import HEADER, Auth
from aispendtrack.proxy.guard import LedgerGuard
from aispendtrack.proxy.keycache import KeyCache
from aispendtrack.proxy.state import Runtime, state_of
from aispendtrack.proxy.webview import MARK_UNAVAILABLE
from aispendtrack.serve.app import create_app
from aispendtrack.store import open_store
from aispendtrack.store.health import Health
from aispendtrack.store.ledger_schema import Outcome
from aispendtrack.store.records import StoreGone
from aispendtrack.store.writer import LedgerUnavailable, StoreWriter

from support.flows import provider_flow
from support.ledger_rows import make_row, read
from support.limiter import limited_flow


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def backup(path, dest):
    """A consistent copy (WAL included), as an operator's backup would be."""
    with sqlite3.connect(path) as src, sqlite3.connect(dest) as dst:
        src.backup(dst)
    dst.close()
    src.close()


def remove_db(path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.remove(f"{path}{suffix}")


def lose(db_path, how):
    """Remove the file, or replace it by a copy of itself (another file at the same path)."""
    backup(db_path, f"{db_path}.bak")
    if how == "removed":
        remove_db(db_path)
    else:
        os.replace(f"{db_path}.bak", db_path)


def test_health_reports_first_problem_logs_advice_and_recovery(caplog):
    caplog.set_level(logging.WARNING)
    h = Health("x.db")
    h.report("ledger", "database or disk is full")
    h.report("keystore", "database file x.db is gone (deleted or moved)")
    assert h.problem == "database or disk is full"
    assert "free disk space" in caplog.text and "503" in caplog.text
    h.report("ledger", None)
    assert h.problem.startswith("database file x.db is gone")
    h.report("keystore", None)
    assert h.problem is None and "writable again" in caplog.text
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]


@pytest.mark.parametrize("how", ["removed", "replaced"])
def test_writer_stops_at_once_and_never_writes_into_the_file_put_back(db_path, how, caplog):
    caplog.set_level(logging.WARNING)
    health = Health(db_path)
    store = open_store(db_path, health=health)
    w = StoreWriter(store, health=health)  # default retries: none for a lost file (they would stall every waiter 3 s)
    w.start()
    try:
        w.write_sync(make_row(flow_id="before"))
        lose(db_path, how)
        started = time.monotonic()
        with pytest.raises(LedgerUnavailable, match=how):
            w.write_sync(make_row(flow_id="after"))
        assert time.monotonic() - started < 1.0
        assert how in health.problem and "restart" in health.problem and health.lost == health.problem
        if how == "removed":
            assert not db_path.exists()  # nothing created in its place
            os.replace(f"{db_path}.bak", db_path)  # put back while the writer runs
        time.sleep(1.5)  # a retry of the kept rows would have run
        assert read(db_path, "SELECT flow_id FROM calls") == [("before",)]
        assert how in health.problem  # until restarted
    finally:
        w.close()
        store.close()
    assert read(db_path, "SELECT flow_id FROM calls") == [("before",)]
    assert "ledger: 1 row(s) could not be written before shutdown" in caplog.text
    assert caplog.text.count(f"AiSpendTrack: database file {db_path} was {how}") == 1  # said once


class FullDisk:
    """The real store, but its writes fail as on a full disk while `full` is set."""

    def __init__(self, store):
        self.store, self.full = store, True

    def write(self, batch):
        if self.full:
            e = sqlite3.OperationalError("database or disk is full")
            e.sqlite_errorcode = sqlite3.SQLITE_FULL
            raise e
        return self.store.write(batch)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_writer_with_failing_commits_fails_fast_keeps_rows_and_recovers(db_path):
    store = open_store(db_path)
    disk = FullDisk(store)
    w = StoreWriter(disk, retries=3, retry_delay=0.05)
    w.start()
    try:
        with pytest.raises(LedgerUnavailable, match="full"):
            w.write_sync(make_row(flow_id="a"))
        assert w.health.problem == "database or disk is full"
        with pytest.raises(LedgerUnavailable):  # at once: no backoff while known to be down
            w.write_sync(make_row(flow_id="b"))  # (asserted with recorded sleeps in test_ledger_failures)
        disk.full = False
        wait_for(lambda: w.health.problem is None)
        assert read(db_path, "SELECT flow_id FROM calls") == [("a",), ("b",)]
    finally:
        w.close()
        store.close()


def test_keycache_reports_a_deleted_file_and_never_reads_a_recreated_one(db_path, config):
    with open_store(db_path) as store:
        store.create_account("acme", "pro")
        old = store.create_key("acme", config)
    health = Health(db_path)
    store = open_store(db_path, health=health)
    cache = KeyCache(store, config, health)
    cache.start()
    try:
        assert cache.lookup(old.key).reason is None
        remove_db(db_path)
        wait_for(lambda: health.problem is not None)
        assert "removed" in health.problem
        with open_store(db_path) as fresh:  # e.g. `aispendtrack accounts create` on a new file
            fresh.create_account("newco", "pro")
            new = fresh.create_key("newco", config)
        time.sleep(3 * keycache.POLL_SECONDS)
        assert cache.lookup(new.key).reason.startswith("unknown key")  # never read from the new file
        assert "removed" in health.problem  # answered 503 until restarted
        with open_store(db_path) as again:  # a restarted proxy reads the file now at the path
            restarted = KeyCache(again, config, Health(db_path))
            restarted.start()
            assert restarted.lookup(new.key).reason is None
            restarted.stop()
    finally:
        cache.stop()
        store.close()


def test_keycache_fresh_stops_at_once_without_waiting_for_the_poll(db_path, config, monkeypatch):
    monkeypatch.setattr(keycache, "POLL_SECONDS", 60)  # only the per-request path may notice
    with open_store(db_path) as store:
        store.create_account("acme", "pro")
        store.create_key("acme", config)
    health = Health(db_path)
    store = open_store(db_path, health=health)
    cache = KeyCache(store, config, health)
    cache.start()
    try:
        with open_store(f"{db_path}.new") as fresh:
            fresh.create_account("newco", "pro")
            new = fresh.create_key("newco", config)
        os.replace(f"{db_path}.new", db_path)
        with pytest.raises(StoreGone, match="replaced"):  # an unknown key re-reads the store: refused, not 401
            asyncio.run(cache.lookup_fresh(new.key))
        assert "replaced" in health.problem
        with pytest.raises(StoreGone):
            asyncio.run(cache.lookup_fresh(new.key))
    finally:
        cache.stop()
        store.close()


def test_guard_answers_503_in_the_provider_format_only_while_there_is_a_problem():
    rt = Runtime()
    guard = LedgerGuard(rt)
    ok = limited_flow(hourly=None)  # authenticated, unlimited: no limiter to stop it
    guard.requestheaders(ok)
    assert ok.response is None
    rt.health.report("ledger", "database or disk is full")
    refused = limited_flow(hourly=None)
    guard.requestheaders(refused)
    assert refused.response.status_code == 503 and refused.response.headers["retry-after"]
    error = refused.response.json()["error"]
    assert error["type"] == "server_error" and "database or disk is full" in error["message"]
    assert state_of(refused).outcome is Outcome.REJECTED
    other = tflow.tflow()  # not provider-bound: untouched
    guard.requestheaders(other)
    assert other.response is None


def test_guard_503_is_exact():
    rt = Runtime()
    rt.health.report("ledger", "database or disk is full")
    f = limited_flow(hourly=None)
    LedgerGuard(rt).requestheaders(f)
    message = "AiSpendTrack cannot record calls right now, so this one was not sent: database or disk is full"
    assert f.response.json() == {"error": {"message": message, "type": "server_error", "param": None,
                                           "code": "ledger_unavailable"}}
    assert (b"retry-after", b"5") in f.response.headers.fields  # lower case, as HTTP/2 requires
    assert (f.marked, f.comment, state_of(f).error) == (MARK_UNAVAILABLE, message, message)


def test_guard_notices_a_replaced_file_itself_before_any_thread(db_path, caplog):
    caplog.set_level(logging.WARNING)
    rt = Runtime(db_path=db_path)
    rt.store = open_store(db_path, health=rt.health)  # pinned, as the addon's start does
    guard = LedgerGuard(rt)
    try:
        ok = limited_flow(hourly=None)
        guard.requestheaders(ok)
        assert ok.response is None
        lose(db_path, "replaced")
        for _ in range(2):
            f = limited_flow(hourly=None)
            guard.requestheaders(f)
            assert f.response.status_code == 503 and "replaced" in f.response.json()["error"]["message"]
            assert f.response.headers["x-should-retry"] == "false" and "retry-after" not in f.response.headers
        assert rt.health.problem == rt.health.lost and "restart" in rt.health.lost
        assert caplog.text.count("was replaced by another file") == 1
    finally:
        rt.store.close()


def test_auth_on_a_lost_file_answers_503_for_good_without_a_line_per_call(db_path, config, caplog):
    rt = Runtime(config=config, db_path=db_path)
    rt.store = open_store(db_path, health=rt.health)
    rt.keycache = KeyCache(rt.store, config, rt.health)
    rt.keycache.start()
    caplog.set_level(logging.WARNING)
    try:
        lose(db_path, "replaced")
        auth = Auth(rt)
        for _ in range(3):  # an unknown key makes the key store be read again
            f = provider_flow(headers=[(HEADER, "ask_" + "x" * 32)])
            with taddons.context(auth):
                asyncio.run(auth.requestheaders(f))
            assert f.response.status_code == 503 and f.response.headers["x-should-retry"] == "false"
            assert "could not read its key store: database file" in f.response.json()["error"]["message"]
            assert "replaced" in f.response.json()["error"]["message"]
        assert not [m for m in caplog.messages if "key store" in m]
        assert caplog.text.count("replaced by another file while this process ran") == 1
    finally:
        rt.keycache.stop()
        rt.store.close()


@pytest.mark.parametrize("condition", ["response", "error", "not live"])
def test_guard_leaves_a_flow_alone_that_is_answered_failed_or_not_live(condition):
    rt = Runtime()
    rt.health.report("ledger", "database or disk is full")
    f = limited_flow(hourly=None)
    answered = tflow.tresp()
    if condition == "response":
        f.response = answered  # e.g. auth's 401
    elif condition == "error":
        f.error = tflow.terr()
    else:
        f.live = False  # loaded from a file
    LedgerGuard(rt).requestheaders(f)
    assert f.response is (answered if condition == "response" else None)
    assert state_of(f).outcome is Outcome.FORWARDED and not f.marked


@pytest.mark.parametrize("how", ["removed", "replaced"])
def test_serve_refuses_a_lost_database_and_never_opens_another(db_path, config, how, caplog):
    caplog.set_level(logging.WARNING)
    with open_store(db_path) as store:
        store.create_account("acme", "pro")
        key = store.create_key("acme", config).key
    with TestClient(create_app(config, db_path, deliver=False), base_url="http://127.0.0.1:8090") as client:
        assert client.get("/v1/me", headers={"x-aispendtrack-key": key}).status_code == 200
        lose(db_path, how)
        for _ in range(2):  # API and dashboard, and again: it stays so
            for r in (client.get("/v1/me", headers={"x-aispendtrack-key": key}), client.get("/")):
                assert r.status_code == 503 and r.json()["error"]["type"] == "storage_unavailable"
                assert "restarted" in r.json()["error"]["message"] and str(db_path) not in r.text
                assert "retry-after" not in r.headers
    assert db_path.exists() == (how == "replaced")  # nothing created in its place
    assert caplog.text.count(f"database file {db_path} was {how}") == 1
