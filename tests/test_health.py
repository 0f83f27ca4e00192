"""Fail closed: the database file is followed, problems reach `Health`, the guard answers 503."""

import asyncio
import logging
import os
import sqlite3
import time

import pytest
from mitmproxy.test import tflow

from aispendtrack.proxy import keycache
from aispendtrack.proxy.guard import LedgerGuard
from aispendtrack.proxy.keycache import KeyCache
from aispendtrack.proxy.state import Runtime, state_of
from aispendtrack.proxy.webview import MARK_UNAVAILABLE
from aispendtrack.store import db as dbmod
from aispendtrack.store import open_store
from aispendtrack.store.health import DatabaseGone, Follower, Health
from aispendtrack.store.ledger_schema import Outcome
from aispendtrack.store.records import StoreUnavailable
from aispendtrack.store.writer import LedgerUnavailable, StoreWriter

from test_ledger import make_row, read
from test_limiter import limited_flow


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


def test_follower_refuses_a_deleted_file_never_creates_one_and_follows_a_new_one(db_path):
    opened = []

    def opener():
        opened.append(dbmod.connect(db_path))
        return opened[-1]

    f = Follower(db_path, opener, lambda d: d.conn.close())
    first = f.get()
    assert f.get() is first
    backup(db_path, f"{db_path}.bak")
    remove_db(db_path)
    with pytest.raises(DatabaseGone, match="gone"):
        f.get()
    assert not db_path.exists()  # nothing created in its place
    os.replace(f"{db_path}.bak", db_path)
    assert f.get() is not first and len(opened) == 2


def test_writer_keeps_rows_while_the_file_is_gone_and_writes_them_into_the_restored_one(db_path):
    store = open_store(db_path)
    w = StoreWriter(store, retries=0)
    w.start()
    try:
        w.write_sync(make_row(flow_id="before"))
        backup(db_path, f"{db_path}.bak")
        remove_db(db_path)
        with pytest.raises(LedgerUnavailable):
            w.write_sync(make_row(flow_id="while-gone"))
        assert "gone" in w.health.problem and not db_path.exists()
        os.replace(f"{db_path}.bak", db_path)
        wait_for(lambda: w.health.problem is None)  # retried by itself, no new row needed
        assert read(db_path, "SELECT flow_id FROM calls") == [("before",), ("while-gone",)]
    finally:
        w.close()
        store.close()


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


def test_keycache_reports_a_deleted_file_and_reloads_a_recreated_one(db_path, config):
    with open_store(db_path) as store:
        store.create_account("acme", "pro")
        old = store.create_key("acme", config)
    store = open_store(db_path)
    health = Health(db_path)
    cache = KeyCache(store, config, health)
    cache.start()
    try:
        assert cache.lookup(old.key).reason is None
        remove_db(db_path)
        wait_for(lambda: health.problem is not None)
        assert "gone" in health.problem
        with open_store(db_path) as fresh:  # e.g. `aispendtrack accounts create` on a new file
            fresh.create_account("newco", "pro")
            new = fresh.create_key("newco", config)
        wait_for(lambda: health.problem is None)
        wait_for(lambda: cache.lookup(new.key).reason is None)
        assert cache.lookup(old.key).reason.startswith("unknown key")
    finally:
        cache.stop()
        store.close()


def test_keycache_fresh_follows_the_file_without_waiting_for_the_poll(db_path, config, monkeypatch):
    monkeypatch.setattr(keycache, "POLL_SECONDS", 60)  # only the per-request path may notice
    with open_store(db_path) as store:
        store.create_account("acme", "pro")
        store.create_key("acme", config)
    store = open_store(db_path)
    health = Health(db_path)
    cache = KeyCache(store, config, health)
    cache.start()
    try:
        remove_db(db_path)
        with pytest.raises(StoreUnavailable, match="gone"):  # an unknown key re-reads the store: refused, not 401
            asyncio.run(cache.lookup_fresh("ask_" + "x" * 32))
        assert "gone" in health.problem
        with open_store(db_path) as fresh:
            fresh.create_account("newco", "pro")
            new = fresh.create_key("newco", config)  # announced: the next request re-reads
        assert asyncio.run(cache.lookup_fresh(new.key)).reason is None
        assert health.problem is None
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


def test_serve_refuses_a_vanished_database_and_never_creates_one(db_path):
    from types import SimpleNamespace

    from fastapi import HTTPException

    from aispendtrack.serve import deps
    from aispendtrack.serve.dashboard import routes

    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(db_path=db_path)))
    opened = deps.database(request)
    assert next(opened).execute("SELECT count(*) FROM accounts").fetchone() == (0,)
    opened.close()
    remove_db(db_path)
    for open_one in (lambda: next(deps.database(request)), lambda: routes._open(request)):  # API, dashboard
        with pytest.raises(HTTPException) as refused:
            open_one()
        assert refused.value.status_code == 503 and refused.value.detail["type"] == "database_unavailable"
    assert not db_path.exists()
