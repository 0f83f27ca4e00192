"""One limit across threads and OS processes sharing a SQLite file (BEGIN IMMEDIATE)."""

import multiprocessing
import threading

import pytest

from aispendtrack.store.db import connect
from aispendtrack_dev.limits_bench import _worker
from aispendtrack.store.limits import check_and_count, ensure_schema, usage

T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z


@pytest.fixture()
def path(tmp_path):
    p = tmp_path / "shared.db"
    db = connect(p)
    ensure_schema(db)
    db.conn.close()
    return p


def _race(path, n_threads, **limits):
    barrier = threading.Barrier(n_threads)
    results, errors = [], []

    def attempt(i):
        try:
            db = connect(path, check_same_thread=False)
            barrier.wait()
            d = check_and_count(db, key_id="key_shared", account=1, now=T0 + i * 1e-3,
                                **limits)
            results.append(d.admitted)
            db.conn.close()
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return results


def test_200_threads_hourly_100_remaining(path):
    db = connect(path)
    for i in range(50):  # 150 limit, 50 used -> 100 remaining
        assert check_and_count(db, key_id="key_shared", account=1, hourly_limit=150,
                               monthly_limit=None, now=T0 - 100 + i).admitted
    results = _race(path, 200, hourly_limit=150, monthly_limit=None)
    assert sum(results) == 100
    assert usage(db, key_id="key_shared", account=1, now=T0 + 1).hourly_count == 150


def test_200_threads_monthly_100_remaining(path):
    db = connect(path)
    db.conn.execute("INSERT INTO monthly_usage VALUES (1, '2026-11', 9900)")
    results = _race(path, 200, hourly_limit=None, monthly_limit=10_000)
    assert sum(results) == 100
    assert usage(db, account=1, now=T0).monthly_count == 10_000


def test_two_os_processes_share_one_limit(path):
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(2), ctx.Queue()  # both connected before the first call
    # each process tries 600 times, same key and account: hourly 500, monthly 550
    job = (str(path), "key_shared", 1, 600, 500, 550, T0, 0.001)
    procs = [ctx.Process(target=_worker, args=(job, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    admitted = [out.get(timeout=60)[0] for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(admitted) == 500
    # No assertion on the split: SQLite's busy handler may let one process take every slot.
    db = connect(path)
    u = usage(db, key_id="key_shared", account=1, now=T0 + 1)
    assert (u.hourly_count, u.monthly_count) == (500, 500)
