"""One limit across threads and OS processes sharing a SQLite file (BEGIN IMMEDIATE), each
with its own store and connection, as proxies have."""

import multiprocessing
import threading


from aispendtrack.store import open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack_dev.limits_bench import _worker

T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z


def _race(path, n_threads, **limits):
    barrier = threading.Barrier(n_threads)
    results, errors = [], []

    def attempt(i):
        try:
            with open_store(path, migrate_schema=False) as db:
                barrier.wait()
                d = db.admit(Admission("key_shared", 1, limits["hourly_limit"], limits["monthly_limit"],
                                       T0 + i * 1e-3))
            results.append(d.admitted)
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return results


def test_200_threads_hourly_100_remaining(path, db):
    for i in range(50):  # 150 limit, 50 used -> 100 remaining
        assert db.admit(Admission("key_shared", 1, 150, None, T0 - 100 + i)).admitted
    results = _race(path, 200, hourly_limit=150, monthly_limit=None)
    assert sum(results) == 100
    assert db.usage(key_id="key_shared", account=1, now=T0 + 1).hourly_count == 150


def test_200_threads_monthly_100_remaining(path, db):
    with db.connection() as conn:
        conn.execute("INSERT INTO monthly_usage VALUES (1, '2026-11', 9900)")
    results = _race(path, 200, hourly_limit=None, monthly_limit=10_000)
    assert sum(results) == 100
    assert db.usage(account=1, now=T0).monthly_count == 10_000


def test_two_os_processes_share_one_limit(path, db):
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
    u = db.usage(key_id="key_shared", account=1, now=T0 + 1)
    assert (u.hourly_count, u.monthly_count) == (500, 500)
