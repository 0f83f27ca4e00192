import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from aispendtrack.store import open_store
from aispendtrack.store.ledger_schema import to_db_row
from aispendtrack.store.records import StoreGone
from aispendtrack.store.writer import LedgerClosedError, LedgerUnavailable, StoreWriter

from support.ledger_rows import make_row, read, unusable, waiting

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "ledger.db")


@pytest.fixture
def store(db_path):
    with open_store(db_path) as opened:
        yield opened


@pytest.fixture
def writer(store):
    w = StoreWriter(store)
    w.start()
    yield w
    w.close()


@pytest.mark.parametrize(
    "row, expected",
    [
        (make_row(), {"cost_usd": "0.000036", "streamed": 1, "partial": 0,
                      "ts": "2026-11-26T09:12:27.123456Z",
                      "usage_json": '{"prompt_tokens":120,"completion_tokens":30}'}),
        (make_row(cost_usd=Decimal("1.2E-7")), {"cost_usd": "0.00000012"}),
        (make_row(cost_usd=None, pricing="unpriced"), {"cost_usd": None}),
        (make_row(ts="2026-11-26T10:12:27+01:00"), {"ts": "2026-11-26T09:12:27.000000Z"}),
        (make_row(usage_json={"cost": Decimal("0.5")}), {"usage_json": '{"cost":"0.5"}'}),
    ],
)
def test_to_db_row_converts(row, expected):
    out = to_db_row(row)
    for k, v in expected.items():
        assert out[k] == v


@pytest.mark.parametrize(
    "row, match",
    [
        (make_row(bogus=1), "unknown ledger column"),
        (make_row(outcome=None), "no outcome"),
        (make_row(ts=datetime(2026, 1, 1)), "time zone"),
        (make_row(ts="yesterday"), "Invalid isoformat"),
        (make_row(cost_usd="lots"), "not a decimal"),
        (make_row(cost_usd=Decimal("NaN")), "not finite"),
    ],
)
def test_to_db_row_rejects(row, match):
    with pytest.raises((ValueError, TypeError), match=match):
        to_db_row(row)


def test_row_committed_before_write_returns(writer, db_path):
    async def main():
        for i in range(5):
            rid = await writer.write(make_row(flow_id=f"f{i}"))
            # a separate connection sees the row as soon as the await returns
            assert read(db_path, "SELECT flow_id, cost_usd FROM calls WHERE id=?", (rid,)) == [
                (f"f{i}", "0.000036")
            ]

    asyncio.run(main())
    assert writer.stats.rows_written == 5


def test_db_is_wal_and_nulls_stay_null(writer, db_path):
    rid = writer.write_sync(make_row(cache_read_tokens=None, cost_usd=None, pricing="unmetered"))
    assert read(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert read(db_path, "SELECT cache_read_tokens, cost_usd, typeof(cost_usd) FROM calls WHERE id=?",
                (rid,)) == [(None, None, "null")]


def test_group_commit_under_concurrency(writer, db_path):
    async def main():
        async def task(t):
            return [await writer.write(make_row(flow_id=f"{t}-{i}")) for i in range(50)]

        return await asyncio.gather(*(task(t) for t in range(16)))

    ids = [i for chunk in asyncio.run(main()) for i in chunk]
    assert len(set(ids)) == 800
    assert read(db_path, "SELECT count(*) FROM calls") == [(800,)]
    assert writer.stats.rows_written == 800
    assert writer.stats.batches < 800
    assert writer.stats.max_batch > 1


def test_bad_row_fails_only_its_own_future(writer, db_path):
    futs = [
        writer.submit(make_row(flow_id="a")),
        writer.submit(make_row(bogus="x")),  # unknown column
        writer.submit(make_row(flow_id="odd", status={"not": "bindable"})),  # kept, the value stored NULL and named
        writer.submit("not a dict"),
        writer.submit(make_row(flow_id="b")),
    ]
    assert futs[0].result(5) > 0
    with pytest.raises(ValueError, match="bogus"):
        futs[1].result(5)
    assert futs[2].result(5) > 0
    with pytest.raises(TypeError):
        futs[3].result(5)
    assert futs[4].result(5) > 0
    assert read(db_path, "SELECT flow_id, status FROM calls ORDER BY id") == [("a", 200), ("odd", None), ("b", 200)]
    assert "status" in read(db_path, "SELECT error FROM calls WHERE flow_id = 'odd'")[0][0]
    assert writer.stats.rows_failed == 2
    # the thread is still alive and writing
    assert writer.write_sync(make_row(flow_id="c")) > 0


def test_close_flushes_pending_and_is_idempotent(store, db_path):
    w = StoreWriter(store)
    w.start()
    futs = [w.submit(make_row(flow_id=str(i))) for i in range(500)]
    w.close()
    assert all(f.done() for f in futs)
    assert sorted(f.result() for f in futs) == [r[0] for r in read(db_path, "SELECT id FROM calls ORDER BY id")]
    w.close()
    late = w.submit(make_row())
    with pytest.raises(LedgerClosedError):
        late.result(1)


def test_close_without_start_flushes_queued_rows(store, db_path):
    w = StoreWriter(store)
    fut = w.submit(make_row())
    w.close()
    assert fut.result(1) == 1
    assert read(db_path, "SELECT count(*) FROM calls") == [(1,)]


def test_start_on_unusable_path_raises_database_error(tmp_path):
    store = unusable(tmp_path / "dir.db")
    try:
        with pytest.raises(StoreGone, match="dir.db"):
            StoreWriter(store).start()  # its thread's connection cannot be opened: the path names another file
    finally:
        store.close()


def hold_write_lock(db_path, seconds):
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO calls (ts, outcome) VALUES ('2026-01-01T00:00:00.000000Z', 'rejected')")

    def release():
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    t = threading.Thread(target=release)
    t.start()
    return t


def test_locked_database_is_retried_then_written(db_path, monkeypatch):
    store = waiting(db_path, monkeypatch, 0.02)
    w = StoreWriter(store, retries=6, retry_delay=0.02)
    w.start()
    try:
        t = hold_write_lock(db_path, 0.3)
        rid = w.submit(make_row(flow_id="late")).result(10)
        t.join()
        assert w.stats.retries >= 1
        assert read(db_path, "SELECT flow_id FROM calls WHERE id=?", (rid,)) == [("late",)]
    finally:
        w.close()
        store.close()


def test_lock_beyond_retries_fails_futures_keeps_the_row_and_thread_survives(db_path, caplog, monkeypatch):
    store = waiting(db_path, monkeypatch, 0.01)
    w = StoreWriter(store, retries=1, retry_delay=0.01)
    w.start()
    try:
        t = hold_write_lock(db_path, 0.5)
        fut = w.submit(make_row(flow_id="late"))
        with pytest.raises(LedgerUnavailable, match="locked.*kept"):
            fut.result(5)
        assert w.health.problem == "database is locked"
        t.join()
        assert w.write_sync(make_row(flow_id="after")) > 0
        assert w.health.problem is None
        assert read(db_path, "SELECT flow_id FROM calls WHERE flow_id IS NOT NULL") == [("late",), ("after",)]
        assert caplog.records and all(r.levelname == "WARNING" for r in caplog.records)
    finally:
        w.close()
        store.close()


CHILD = textwrap.dedent(
    """
    import sys, threading
    from datetime import UTC, datetime
    from decimal import Decimal
    from aispendtrack.store import open_store
    from aispendtrack.store.writer import StoreWriter

    w = StoreWriter(open_store(sys.argv[1]))
    w.start()
    out = threading.Lock()

    def worker(t):
        i = 0
        while True:
            rid = w.write_sync({"ts": datetime.now(UTC), "flow_id": f"{t}-{i}",
                                "outcome": "forwarded", "cost_usd": Decimal("0.000123"),
                                "usage_json": {"n": i}})
            with out:
                sys.stdout.write(f"{rid}\\n")
                sys.stdout.flush()
            i += 1

    for t in range(4):
        threading.Thread(target=worker, args=(t,), daemon=True).start()
    threading.Event().wait()
    """
)


def test_sigkill_loses_no_acknowledged_row(tmp_path, db_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, str(script), db_path], stdout=subprocess.PIPE, env=env)
    printed = []
    try:
        while len(printed) < 1500:
            line = proc.stdout.readline()
            assert line, "child exited early"
            printed.append(int(line))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        printed += [int(x) for x in proc.stdout.read().split()]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert read(db_path, "PRAGMA integrity_check") == [("ok",)]
    stored = {r[0] for r in read(db_path, "SELECT id FROM calls")}
    missing = set(printed) - stored
    assert not missing, f"{len(missing)} acknowledged rows lost"
    assert read(db_path, "SELECT cost_usd, usage_json FROM calls WHERE id=?", (printed[0],))[0][0] == "0.000123"
    assert json.loads(read(db_path, "SELECT usage_json FROM calls WHERE id=?", (printed[0],))[0][0]).keys() == {"n"}


def test_an_integer_sqlite_cannot_hold_is_stored_null_and_named_not_the_row_lost(store, db_path):
    w = StoreWriter(store)
    w.start()
    try:
        w.write_sync(make_row(flow_id="huge", input_tokens=10**30, output_tokens=2**63, error="x"))
    finally:
        w.close()
    ((inp, out, error),) = read(db_path, "SELECT input_tokens, output_tokens, error FROM calls WHERE flow_id = 'huge'")
    assert inp is None and out is None and error == "x; out of range, stored as null: input_tokens, output_tokens"
