"""The ledger writer when things go wrong: retries and backoff, rows kept while the database
cannot be written (fail closed, health reported), rows failed alone, close() and shutdown.

Failures are provoked deterministically: another connection holding the write lock, a
trigger that refuses a row, a commit that fails with its transaction open. Backoff sleeps
are recorded by a fake `time` (no wall clock); the backlog retry timer is set to an hour
where a test must not race it.
"""

import contextlib
import logging
import sqlite3
import threading
import types

import pytest

from aispendtrack.store import db as dbmod
from aispendtrack.store import ledger
from aispendtrack.store.health import Health
from aispendtrack.store.ledger import LedgerClosedError, LedgerUnavailable, LedgerWriter, to_db_row
from aispendtrack.store.ledger_rows import _insert_sql, describe, insert_batch

from support.ledger_rows import make_row, read

KEPT = "; the row is kept and written when the database is back"


@pytest.fixture
def db_path(tmp_path):
    """A ledger file whose schema exists (a writer can then open it under another's lock)."""
    path = str(tmp_path / "ledger.db")
    w = LedgerWriter(path)
    w.start()
    w.close()
    return path


@pytest.fixture
def sleeps(monkeypatch):
    """The writer's backoff sleeps, recorded instead of slept."""
    slept = []
    monkeypatch.setattr(ledger, "time", types.SimpleNamespace(sleep=slept.append))
    return slept


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.WARNING)
    return lambda: [r.getMessage() for r in caplog.records if r.name == "aispendtrack.store.ledger"]


@contextlib.contextmanager
def write_locked(db_path):
    """Another connection holds the write lock until the block ends."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def flow_ids(db_path):
    return [r[0] for r in read(db_path, "SELECT flow_id FROM calls ORDER BY id")]


def test_commit_retried_with_doubling_backoff_then_row_kept_health_reported_and_written_in_order(
        db_path, sleeps, logs, monkeypatch):
    monkeypatch.setattr(ledger, "RETRY_SECONDS", 3600)  # recovery comes from the next row only
    health = Health(db_path)
    w = LedgerWriter(db_path, busy_timeout=0.01, health=health)  # default retries and delay
    w.start()
    try:
        with write_locked(db_path):
            with pytest.raises(LedgerUnavailable) as a:
                w.write_sync(make_row(flow_id="a"))
            assert str(a.value) == "database is locked" + KEPT
            assert sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])
            assert w.stats.retries == 5
            assert logs() == [
                f"ledger: commit failed (database is locked), retry {n}/5 in {d:.2f}s"
                for n, d in enumerate([0.1, 0.2, 0.4, 0.8, 1.6], 1)
            ] + ["ledger: commit of 1 row(s) failed after 6 attempt(s): database is locked"]
            assert w.health is health and health.problem == "database is locked"
            # known to be down: one attempt, no backoff, nothing logged again
            with pytest.raises(LedgerUnavailable, match="locked"):
                w.write_sync(make_row(flow_id="b"))
            assert len(sleeps) == 5 and w.stats.retries == 5 and len(logs()) == 6
            assert w.backlog and [r["flow_id"] for r in w.backlog] == ["a", "b"]
        assert w.write_sync(make_row(flow_id="c")) == 3  # the backlog first, oldest first
        assert health.problem is None and w.backlog == []
        assert flow_ids(db_path) == ["a", "b", "c"]
        assert (w.stats.batches, w.stats.rows_written, w.stats.max_batch) == (1, 3, 3)
        w.write_sync(make_row(flow_id="d"))
        assert (w.stats.batches, w.stats.rows_written, w.stats.max_batch) == (2, 4, 3)
        assert len(sleeps) == 5
    finally:
        w.close()


@pytest.mark.parametrize("kept_rows, dropped", [(2, 0), (3, 1)])
def test_backlog_keeps_the_newest_max_backlog_rows(db_path, logs, monkeypatch, kept_rows, dropped):
    monkeypatch.setattr(ledger, "RETRY_SECONDS", 3600)
    monkeypatch.setattr(ledger, "MAX_BACKLOG", 2)
    w = LedgerWriter(db_path, busy_timeout=0.01, retries=0)
    bad = make_row(flow_id="bad", bogus=1)
    rows = [make_row(flow_id=f"r{i}") for i in range(kept_rows)]
    futs = [w.submit(row) for row in [bad, *rows]]  # queued before start: one batch
    try:
        with write_locked(db_path):
            w.start()
            for i, fut in enumerate(futs[1:]):
                fate = "was dropped: more than 2 rows wait to be written" if i < dropped else \
                    "is kept and written when the database is back"
                with pytest.raises(LedgerUnavailable, match=f"^database is locked; the row {fate}$"):
                    fut.result(5)
        with pytest.raises(ValueError) as rejected:
            futs[0].result(5)
        assert logs() == [
            f"ledger: row rejected ({rejected.value}): {describe(bad)!r}",
            f"ledger: commit of {kept_rows} row(s) failed after 1 attempt(s): database is locked",
        ] + [f"ledger: {dropped} oldest unwritten row(s) dropped (more than 2 kept)"] * bool(dropped)
        assert w.stats.rows_failed == 1 + dropped
        w.write_sync(make_row(flow_id="next"))
        assert flow_ids(db_path) == [f"r{i}" for i in range(dropped, kept_rows)] + ["next"]
        assert w.stats.rows_failed == 1 + dropped
    finally:
        w.close()


def test_a_row_the_database_refuses_fails_alone_and_is_named(db_path, logs):
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON calls WHEN NEW.flow_id = 'bad' "
                 "BEGIN SELECT RAISE(ABORT, 'bad row refused'); END")
    conn.close()
    w = LedgerWriter(db_path)
    bad = make_row(flow_id="bad")
    futs = [w.submit(make_row(flow_id="a")), w.submit(bad), w.submit(make_row(flow_id="b"))]
    w.start()
    w.close()
    assert [futs[0].result(0), futs[2].result(0)] == [1, 2]
    with pytest.raises(sqlite3.IntegrityError, match="^bad row refused$"):
        futs[1].result(0)
    assert flow_ids(db_path) == ["a", "b"]
    assert logs() == [f"ledger: row rejected (bad row refused): {describe(to_db_row(bad))!r}"]
    assert (w.stats.batches, w.stats.rows_written, w.stats.rows_failed, w.stats.max_batch) == (1, 2, 1, 2)


def test_a_batch_holds_at_most_max_batch_rows(db_path, monkeypatch):
    monkeypatch.setattr(ledger, "MAX_BATCH", 3)
    w = LedgerWriter(db_path)
    futs = [w.submit(make_row(flow_id=str(i))) for i in range(5)]
    w.start()
    w.close()
    assert [f.result(0) for f in futs] == [1, 2, 3, 4, 5]
    assert (w.stats.batches, w.stats.max_batch) == (2, 3)


def test_a_failed_commit_is_rolled_back_so_its_rows_are_written_once(db_path, logs, monkeypatch):
    monkeypatch.setattr(ledger, "RETRY_SECONDS", 3600)
    failing = [True]

    def commit_fails(conn, pending):  # the rows are inserted, then the commit fails
        if not failing[0]:
            return insert_batch(conn, pending)
        conn.execute("BEGIN IMMEDIATE")
        for row, _ in pending:
            conn.execute(_insert_sql(tuple(row)), tuple(row.values()))
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(ledger, "insert_batch", commit_fails)
    w = LedgerWriter(db_path, retries=0)
    w.start()
    try:
        with pytest.raises(LedgerUnavailable, match="^disk I/O error; the row is kept"):
            w.write_sync(make_row(flow_id="a"))
        failing[0] = False
        w.write_sync(make_row(flow_id="b"))
        assert flow_ids(db_path) == ["a", "b"]
        assert w.health.problem is None
        assert logs() == ["ledger: commit of 1 row(s) failed after 1 attempt(s): disk I/O error"]
    finally:
        w.close()


def test_a_rollback_that_fails_closes_the_connection_to_reopen_it(db_path, logs):
    class BrokenConn:
        in_transaction = True
        closed = False

        def execute(self, sql):
            raise sqlite3.OperationalError("disk I/O error")

        def close(self):
            self.closed = True

    w = LedgerWriter(db_path)
    w._db.value = conn = BrokenConn()
    w._rollback()
    assert conn.closed and w._db.value is None
    assert logs() == ["ledger: rollback failed (disk I/O error), reopening the database"]


def test_the_backlog_is_retried_on_a_timer_and_the_writer_keeps_running(db_path, monkeypatch):
    monkeypatch.setattr(ledger, "RETRY_SECONDS", 0.01)
    w = LedgerWriter(db_path, busy_timeout=0.01, retries=0)
    w.start()
    attempts, retried = [0], threading.Event()
    real_insert = w._insert

    def insert(pending):
        attempts[0] += 1
        if attempts[0] >= 3:
            retried.set()
        return real_insert(pending)

    monkeypatch.setattr(w, "_insert", insert)
    try:
        with write_locked(db_path):
            with pytest.raises(LedgerUnavailable):
                w.write_sync(make_row(flow_id="a"))
            assert retried.wait(5), "the backlog was not retried by the timer"
            assert w.health.problem == "database is locked"
        w.write_sync(make_row(flow_id="b"), timeout=5)
        assert flow_ids(db_path) == ["a", "b"]
    finally:
        w.close()


def test_rows_still_unwritten_at_shutdown_are_named_in_the_log(db_path, logs):
    w = LedgerWriter(db_path, busy_timeout=0.01, retries=0)
    w.start()
    with write_locked(db_path):
        with pytest.raises(LedgerUnavailable):
            w.write_sync(make_row(flow_id="a"))
        w.close()
    assert not w._thread.is_alive()
    assert logs()[-1] == "ledger: 1 row(s) could not be written before shutdown: database is locked"


def _once(w, where):
    real, calls = getattr(w, where), [0]

    def once(*args):
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("boom")
        return real(*args)

    return once


def test_an_unexpected_error_outside_the_insert_fails_its_batch_and_the_thread_survives(db_path, logs, monkeypatch):
    w = LedgerWriter(db_path)
    monkeypatch.setattr(w, "_next_batch", _once(w, "_next_batch"))
    w.start()
    try:
        w.submit(make_row(flow_id="a"))
        assert w.write_sync(make_row(flow_id="b"), timeout=5) > 0
        assert logs() == ["ledger writer: unexpected RuntimeError: boom"]
    finally:
        w.close()


def test_an_unexpected_error_in_the_insert_keeps_the_rows_and_fails_closed(db_path, logs, monkeypatch):
    """Not a database error, but the rows are kept all the same (never lost with the batch) and
    the proxy fails closed until they are written."""
    w = LedgerWriter(db_path)
    monkeypatch.setattr(w, "_insert", _once(w, "_insert"))
    w.start()
    try:
        fut = w.submit(make_row(flow_id="a"))
        with pytest.raises(LedgerUnavailable, match="^boom; the row is kept and written when the database is back$"):
            fut.result(5)
        assert w.health.problem == "boom"
        assert w.write_sync(make_row(flow_id="b"), timeout=5) > 0
        assert read(db_path, "SELECT flow_id FROM calls ORDER BY id") == [("a",), ("b",)]
        assert w.health.problem is None
        assert logs() == ["ledger writer: unexpected RuntimeError: boom",
                          "ledger: commit of 1 row(s) failed after 1 attempt(s): boom"]
    finally:
        w.close()


def test_close_without_start_on_an_unusable_path_fails_the_queued_rows(tmp_path, logs):
    (tmp_path / "dir.db").mkdir()
    w = LedgerWriter(tmp_path / "dir.db")
    rows = [make_row(flow_id="a"), make_row(flow_id="b")]
    futs = [w.submit(row) for row in rows]
    w.close()  # does not raise: the waiters are told
    assert all(f.done() for f in futs)
    errors = [f.exception(0) for f in futs]
    assert all(isinstance(e, dbmod.DatabaseError) and "dir.db" in str(e) for e in errors)
    assert logs() == [f"ledger: row rejected ({e}): {describe(row)!r}" for e, row in zip(errors, rows)]
    assert w.stats.rows_failed == 2


def test_a_closed_writer_refuses_rows_and_start_with_a_message(tmp_path, logs):
    w = LedgerWriter(tmp_path / "ledger.db")
    w.close()
    assert not (tmp_path / "ledger.db").exists() and w._thread is None  # nothing to flush, nothing opened
    late = make_row(flow_id="late")
    with pytest.raises(LedgerClosedError, match="^ledger writer is closed$"):
        w.write_sync(late)
    assert logs() == [f"ledger writer closed: row not written: {describe(late)!r}"]
    with pytest.raises(LedgerClosedError, match="^ledger writer is closed$"):
        w.start()
    assert w.health.db_path == tmp_path / "ledger.db"


def test_close_commits_rows_queued_with_the_stop_and_the_thread_ends(db_path, logs):
    w = LedgerWriter(db_path)
    futs = [w.submit(make_row(flow_id=str(i))) for i in range(3)]
    w.close(timeout=5)  # starts the thread just to flush: rows and the stop in one batch
    assert not w._thread.is_alive()
    assert [f.result(0) for f in futs] == [1, 2, 3] and logs() == []


def test_close_waits_ten_seconds_by_default_then_warns(db_path, logs):
    class StuckThread:
        joined = []

        def join(self, timeout=None):
            self.joined.append(timeout)

        def is_alive(self):
            return True

    w = LedgerWriter(db_path)
    w._thread = StuckThread()
    w.close()
    assert StuckThread.joined == [10]
    assert logs() == ["ledger writer did not finish within 10.0s"]


def test_write_sync_waits_ten_seconds_by_default(db_path, monkeypatch):
    waited = []

    class Fut:
        def result(self, timeout=None):
            waited.append(timeout)
            return 7

    w = LedgerWriter(db_path)
    monkeypatch.setattr(w, "submit", lambda row: Fut())
    assert w.write_sync(make_row()) == 7 and waited == [10]


def test_the_thread_is_a_named_daemon_flushed_by_an_exit_hook(db_path, monkeypatch):
    hooks = []
    monkeypatch.setattr(ledger, "atexit", types.SimpleNamespace(register=hooks.append))
    w = LedgerWriter(db_path)
    w.start()
    try:
        assert (w._thread.name, w._thread.daemon) == ("aispendtrack-ledger", True)
        assert len(hooks) == 1
        fut = w.submit(make_row(flow_id="at-exit"))
        hooks[0]()  # what the interpreter does at exit
        assert w._closed and not w._thread.is_alive()
        assert fut.result(0) == 1 and flow_ids(db_path) == ["at-exit"]
    finally:
        w.close()
