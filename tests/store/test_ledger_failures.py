"""The store writer's ledger rows when things go wrong: retries and backoff, rows kept while
the store cannot be written (fail closed, health reported), rows failed alone, close() and
shutdown.

Failures are provoked deterministically: another connection holding the write lock (the
store's busy timeout shortened), a trigger that refuses a row, a commit that fails with its
transaction open, a store whose `write` fails. Backoff sleeps are recorded by a fake `time`
(no wall clock); the backlog retry timer is set to an hour where a test must not race it.
"""

import contextlib
import inspect
import logging
import sqlite3
import threading
import time
import types

import pytest

from aispendtrack.store import ledger_rows, open_store, traffic, writer
from aispendtrack.store.health import Health
from aispendtrack.store.ledger_rows import describe
from aispendtrack.store.ledger_schema import to_db_row
from aispendtrack.store.records import StoreGone
from aispendtrack.store.writer import LedgerClosedError, LedgerUnavailable, StoreWriter

from support.ledger_rows import make_row, read, unusable, waiting

KEPT = "; the row is kept and written when the database is back"
THREAD = "aispendtrack-writer"


@pytest.fixture
def db_path(tmp_path):
    """A ledger file whose schema exists (a writer can then open it under another's lock)."""
    path = str(tmp_path / "ledger.db")
    open_store(path).close()
    return path


@pytest.fixture
def store(db_path):
    with open_store(db_path) as opened:
        yield opened


@pytest.fixture
def sleeps(monkeypatch):
    """The writer's backoff sleeps, recorded instead of slept."""
    slept = []
    monkeypatch.setattr(writer, "time", types.SimpleNamespace(sleep=slept.append, time=time.time))
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


def io_error(message="disk I/O error"):
    """A storage error as SQLite raises it (its result code names the storage)."""
    e = sqlite3.OperationalError(message)
    e.sqlite_errorcode = sqlite3.SQLITE_IOERR
    return e


class Failing:
    """The real store, but each `write` first runs `before(batch)`, which may raise."""

    def __init__(self, store, before):
        self.store, self.before = store, before

    def write(self, batch):
        self.before(batch)
        return self.store.write(batch)

    def __getattr__(self, name):
        return getattr(self.store, name)


def writer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == THREAD}


def test_commit_retried_with_doubling_backoff_then_row_kept_health_reported_and_written_in_order(
        db_path, sleeps, logs, monkeypatch):
    monkeypatch.setattr(writer, "RETRY_SECONDS", 3600)  # recovery comes from the next row only
    store = waiting(db_path, monkeypatch, 0.01)
    health = Health(store.target)
    w = StoreWriter(store, health=health)  # default retries and delay
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
        store.close()


@pytest.mark.parametrize("kept_rows, dropped", [(2, 0), (3, 1)])
def test_backlog_keeps_the_newest_max_backlog_rows(db_path, logs, monkeypatch, kept_rows, dropped):
    monkeypatch.setattr(writer, "RETRY_SECONDS", 3600)
    monkeypatch.setattr(writer, "MAX_BACKLOG", 2)
    store = waiting(db_path, monkeypatch, 0.01)
    w = StoreWriter(store, retries=0)
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
        store.close()


def test_a_row_the_database_refuses_fails_alone_and_is_named(db_path, logs):
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON calls WHEN NEW.flow_id = 'bad' "
                 "BEGIN SELECT RAISE(ABORT, 'bad row refused'); END")
    conn.close()
    with open_store(db_path) as store:
        w = StoreWriter(store)
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


def test_a_batch_holds_at_most_max_batch_rows(store, monkeypatch):
    monkeypatch.setattr(writer, "MAX_BATCH", 3)
    w = StoreWriter(store)
    futs = [w.submit(make_row(flow_id=str(i))) for i in range(5)]
    w.start()
    w.close()
    assert [f.result(0) for f in futs] == [1, 2, 3, 4, 5]
    assert (w.stats.batches, w.stats.max_batch) == (2, 3)


def test_a_failed_commit_is_rolled_back_so_its_rows_are_written_once(store, db_path, logs, monkeypatch):
    monkeypatch.setattr(writer, "RETRY_SECONDS", 3600)
    failing = [True]

    def commit_fails(conn, batch):  # the rows are inserted, then the commit fails
        if not failing[0]:
            return traffic.one_transaction(conn, batch)
        with conn.tx():
            ledger_rows._insert(conn, batch.rows, per_row=False)
            raise io_error()

    monkeypatch.setattr(store, "write_batch", commit_fails)
    w = StoreWriter(store, retries=0)
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


class RollbackFails:
    """A sqlite3 connection whose ROLLBACK fails (a disk I/O error), leaving it in its transaction."""

    def __init__(self, raw):
        self.raw = raw

    def execute(self, sql, params=()):
        if sql == "ROLLBACK":
            raise io_error()
        return self.raw.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self.raw, name)


def test_a_rollback_that_fails_closes_the_connection_to_reopen_it(store, db_path, caplog, logs, monkeypatch):
    monkeypatch.setattr(writer, "RETRY_SECONDS", 3600)
    used = []

    def rollback_fails_once(conn, batch):
        used.append(conn)
        if len(used) > 1:
            return traffic.one_transaction(conn, batch)
        conn.raw = RollbackFails(conn.raw)
        with conn.tx():
            ledger_rows._insert(conn, batch.rows, per_row=False)
            raise io_error()

    monkeypatch.setattr(store, "write_batch", rollback_fails_once)
    w = StoreWriter(store, retries=0)
    w.start()
    try:
        with pytest.raises(LedgerUnavailable, match="^disk I/O error; the row is kept"):
            w.write_sync(make_row(flow_id="a"))  # the commit's own error, not the rollback's
        w.write_sync(make_row(flow_id="b"))
        assert flow_ids(db_path) == ["a", "b"]  # written once: the failed transaction never committed
        assert used[1] is not used[0]  # the thread's connection was replaced
        assert w.health.problem is None
    finally:
        w.close()
    assert ("aispendtrack.store.sqlite.conn", logging.WARNING,
            "aispendtrack: rollback failed (disk I/O error): the database connection is opened again"
            ) in caplog.record_tuples
    assert logs() == ["ledger: commit of 1 row(s) failed after 1 attempt(s): disk I/O error"]


def test_the_backlog_is_retried_on_a_timer_and_the_writer_keeps_running(db_path, monkeypatch):
    monkeypatch.setattr(writer, "RETRY_SECONDS", 0.01)
    attempts, retried = [0], threading.Event()

    def count(batch):
        attempts[0] += 1
        if attempts[0] >= 3:
            retried.set()

    store = waiting(db_path, monkeypatch, 0.01)
    w = StoreWriter(Failing(store, count), retries=0)
    w.start()
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
        store.close()


def test_rows_still_unwritten_at_shutdown_are_named_in_the_log(db_path, logs, monkeypatch):
    store = waiting(db_path, monkeypatch, 0.01)
    before = writer_threads()
    w = StoreWriter(store, retries=0)
    w.start()
    (thread,) = writer_threads() - before
    with write_locked(db_path):
        with pytest.raises(LedgerUnavailable):
            w.write_sync(make_row(flow_id="a"))
        w.close()
    store.close()
    assert not thread.is_alive()
    assert logs()[-1] == "ledger: 1 row(s) could not be written before shutdown: database is locked"


def test_an_unexpected_error_outside_the_store_write_is_logged_and_the_thread_survives(store, db_path, logs):
    """Last use and presence are informational: a bug there is named in the log and costs no
    row and no admission; the writer goes on."""
    calls = [0]

    def used():
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("boom")
        return set()

    w = StoreWriter(store, used=used)
    fut = w.submit(make_row(flow_id="a"))  # queued before start: in the wake-up that fails
    w.start()
    try:
        assert fut.result(5) == 1
        assert w.write_sync(make_row(flow_id="b"), timeout=5) == 2
        assert flow_ids(db_path) == ["a", "b"]
        assert logs() == ["store writer: unexpected RuntimeError: boom"]
    finally:
        w.close()


def test_an_unexpected_error_in_the_store_write_keeps_the_rows_and_fails_closed(store, db_path, logs):
    """Not a storage error, but the rows are kept all the same (never lost with the batch) and
    the proxy fails closed until they are written."""
    calls = [0]

    def once(batch):
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("boom")

    w = StoreWriter(Failing(store, once))
    w.start()
    try:
        fut = w.submit(make_row(flow_id="a"))
        with pytest.raises(LedgerUnavailable, match="^boom; the row is kept and written when the database is back$"):
            fut.result(5)
        assert w.health.problem == "boom"
        assert w.write_sync(make_row(flow_id="b"), timeout=5) > 0
        assert read(db_path, "SELECT flow_id FROM calls ORDER BY id") == [("a",), ("b",)]
        assert w.health.problem is None
        assert logs() == ["store writer: unexpected RuntimeError: boom",
                          "ledger: commit of 1 row(s) failed after 1 attempt(s): boom"]
    finally:
        w.close()


def test_close_without_start_on_an_unusable_path_fails_the_queued_rows(tmp_path, logs):
    store = unusable(tmp_path / "dir.db")
    w = StoreWriter(store)
    rows = [make_row(flow_id="a"), make_row(flow_id="b")]
    futs = [w.submit(row) for row in rows]
    w.close()  # does not raise: the waiters are told
    store.close()
    assert all(f.done() for f in futs)
    errors = [f.exception(0) for f in futs]
    # the path names another file (a folder): the store is gone for the process, the rows fail
    assert all(isinstance(e, StoreGone) and "dir.db" in str(e) for e in errors)
    assert logs() == [f"ledger: row rejected ({e}): {describe(row)!r}" for e, row in zip(errors, rows)]
    assert w.stats.rows_failed == 2


class Spy:
    """A store that records every use and does nothing."""

    target = "spied.db"

    def __init__(self):
        self.used = []

    def __getattr__(self, name):
        self.used.append(name)
        return lambda *a, **kw: None


def test_a_closed_writer_refuses_rows_and_start_with_a_message(logs):
    spy = Spy()
    before = writer_threads()
    w = StoreWriter(spy)
    w.close()
    assert spy.used == [] and writer_threads() == before  # nothing to write, nothing started or opened
    late = make_row(flow_id="late")
    with pytest.raises(LedgerClosedError, match="^the store writer is closed$"):
        w.write_sync(late)
    assert logs() == [f"ledger writer closed: row not written: {describe(late)!r}"]
    with pytest.raises(LedgerClosedError, match="^the store writer is closed$"):
        w.start()
    assert w.health.db_path == "spied.db" and spy.used == []


def test_close_commits_rows_queued_with_the_stop_and_the_thread_ends(store, logs):
    before = writer_threads()
    w = StoreWriter(store)
    futs = [w.submit(make_row(flow_id=str(i))) for i in range(3)]
    w.close(timeout=5)  # starts the thread just to flush: rows and the stop in one batch
    assert writer_threads() <= before
    assert [f.result(0) for f in futs] == [1, 2, 3] and logs() == []
    assert w.stats.batches == 1


def test_close_waits_ten_seconds_by_default_then_warns(store, logs):
    assert inspect.signature(StoreWriter.close).parameters["timeout"].default == 10
    gate = threading.Event()
    w = StoreWriter(Failing(store, lambda batch: gate.wait(30)))  # a commit that hangs
    w.start()
    fut = w.submit(make_row(flow_id="slow"))
    try:
        w.close(timeout=0.2)
        assert logs() == ["store writer did not finish within 0.2s"]
    finally:
        gate.set()
    assert fut.result(10) == 1
    w.close()


def test_write_sync_waits_ten_seconds_by_default(store, monkeypatch):
    waited = []

    class Fut:
        def result(self, timeout=None):
            waited.append(timeout)
            return 7

    w = StoreWriter(store)
    monkeypatch.setattr(w, "submit", lambda row: Fut())
    assert w.write_sync(make_row()) == 7 and waited == [10]


def test_the_thread_is_a_named_daemon_flushed_by_an_exit_hook(store, db_path, monkeypatch):
    hooks = []
    monkeypatch.setattr(writer, "atexit", types.SimpleNamespace(register=hooks.append))
    before = writer_threads()
    w = StoreWriter(store)
    w.start()
    try:
        (thread,) = writer_threads() - before
        assert (thread.name, thread.daemon) == ("aispendtrack-writer", True)
        assert len(hooks) == 1
        fut = w.submit(make_row(flow_id="at-exit"))
        hooks[0]()  # what the interpreter does at exit
        assert not thread.is_alive()
        assert fut.result(0) == 1 and flow_ids(db_path) == ["at-exit"]
        with pytest.raises(LedgerClosedError):
            w.write_sync(make_row(flow_id="after"))
    finally:
        w.close()
