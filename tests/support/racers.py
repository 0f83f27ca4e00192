"""What each process of the cross-process exactness tests runs (importable by `spawn` and
`forkserver` children): a store of its own on the shared target, a start barrier so every
process races at once, threads with their own connections inside each process, and the
outcome put on a queue."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable

from aispendtrack.store import open_store

# Heavy imports done once in the fork server, not in every child.
PRELOAD = ["aispendtrack.store", "aispendtrack.store.postgres.store", "aispendtrack.store.sqlite.store",
           "aispendtrack.config", "psycopg", "psycopg_pool"]
_CTX = None


def context():
    global _CTX
    if _CTX is None:
        _CTX = multiprocessing.get_context("forkserver")
        _CTX.set_forkserver_preload(PRELOAD + [__name__])
    return _CTX


def race(target: str, job: Callable, args: tuple, *, processes: int, threads: int, timeout: float = 120) -> list:
    """Run `job(store, thread_no, *args)` in `threads` threads of `processes` processes, all
    released together; every result (or the repr of an exception) in one list."""
    ctx = context()
    start, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_process, args=(target, job, args, threads, start, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    results = []
    try:
        for _ in procs:
            results += out.get(timeout=timeout)
    finally:
        for p in procs:
            p.join(timeout=timeout)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return results


def _process(target, job, args, threads, start, out) -> None:
    try:
        store = open_store(target, migrate_schema=False)
    except Exception as e:  # told, not hung on: the parent waits for every process's results
        start.abort()
        out.put([f"{type(e).__name__}: {e}"] * threads)
        return
    results: list = []
    gate = threading.Barrier(threads + 1)

    def run(no: int) -> None:
        gate.wait()
        try:
            got = job(store, no, *args)
        except Exception as e:
            got = f"{type(e).__name__}: {e}"
        results.extend(got if isinstance(got, list) else [got])

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    try:
        start.wait(timeout=60)
    except threading.BrokenBarrierError:
        pass  # another process could not start: race anyway, its results say why
    finally:
        gate.wait()
        for w in workers:
            w.join()
        store.close()
        out.put(results)


# -- jobs: job(store, thread_no, *args) -------------------------------------------------


def admit_many(store, no: int, n: int, key: str, account: str, hourly, monthly, t0: float) -> list[bool]:
    """`n` admissions of one call each (no charge); whether each was admitted."""
    from aispendtrack.store.api.traffic import Admission

    return [store.admit(Admission(key.format(no=no), account, hourly, monthly, t0 + i * 1e-3)).admitted
            for i in range(n)]


def reserve_many(store, no: int, n: int, amount_nano: int, t0: float) -> list[bool]:
    """`n` budgeted admissions of key_b (each holding `amount_nano`), settled at their bound
    as soon as admitted: reservations and settlements interleave across processes."""
    from aispendtrack.store.api.traffic import Admission
    from aispendtrack.store.budgets import Charge

    out = []
    for i in range(n):
        d = store.admit(Admission("key_b", "acme", None, None, t0 + i * 1e-3, Charge(amount_nano)))
        if d.admitted:
            store.record([{"ts": t0, "key_id": "key_b", "account": "acme", "outcome": "forwarded", "pricing": "priced",
                           "cost_usd": str(amount_nano / 10**9), "reservation_id": d.budget.id}])
        out.append(d.admitted)
    return out


def create_key(store, no: int, account: str) -> str:
    """One `create_key` on the account: its id, or the refusal."""
    from aispendtrack.config import Config
    from aispendtrack.store.records import KeyStoreError

    try:
        return store.create_key(account, Config()).id
    except KeyStoreError as e:
        return f"refused: {e}"


def claim_all(store, no: int, owner: str, now: float) -> list[str]:
    """A delivery worker: claim due messages and deliver them (a 200) until none is left."""
    got = []
    while batch := store.claim_messages(f"{owner}-{no}", now, limit=4):
        for m in batch:
            store.record_attempt(m, f"{owner}-{no}", now, 200, None, 1)
            got.append(m.id)
    return got


def open_store_at(store, no: int, target: str) -> int:
    """Open (and so migrate) the store at `target` again: the schema version it is at."""
    with open_store(target) as opened:
        return opened.schema_versions()[0]
