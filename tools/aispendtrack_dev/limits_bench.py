"""Micro-benchmark of the store's `admit` on one SQLite file, from 1 or 2 OS processes.

    python -m aispendtrack_dev.limits_bench [n] [processes]

Each process makes `n` calls for its own key (pro-sized hourly limit, so the log holds
thousands of events and is pruned as it slides) on one shared free-tier account; the
clock advances 0.25 s per call. `bench` returns the mean wall time of one call as seen
by a caller (lock waits for the other process included).
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

from aispendtrack.store import budgets, open_store
from aispendtrack.store.api.traffic import Admission

T0 = 1_795_000_000.0  # 2026-11-18


def run_checks(
    path: str,
    key_id: str,
    account: int,
    n: int,
    hourly_limit: int | None,
    monthly_limit: int | None,
    t0: float = T0,
    dt: float = 0.25,
    start=None,
    charge_nano: int | None = None,
) -> tuple[int, float]:
    """`n` admissions at t0, t0 + dt, …; returns (admitted, elapsed seconds).

    `start` (a multiprocessing Event or Barrier) lines up processes before timing. With
    `charge_nano`, each call also reserves that much on the account's budget.
    """
    charge = None if charge_nano is None else budgets.Charge(charge_nano)
    store = open_store(path, migrate_schema=False)
    try:
        with store.connection():  # this thread's connection, opened before the clock starts
            pass
        if start is not None:
            start.wait()
        admitted = 0
        began = time.perf_counter()
        for i in range(n):
            admitted += store.admit(Admission(key_id, account, hourly_limit, monthly_limit, t0 + i * dt, charge)).admitted
        elapsed = time.perf_counter() - began
    finally:
        store.close()
    return admitted, elapsed


def _worker(args, start, out) -> None:
    out.put(run_checks(*args[:8], start=start, charge_nano=args[9] if len(args) > 9 else None))


def bench(n: int = 20_000, processes: int = 1, path: str | Path | None = None, budgeted: bool = False) -> float:
    """Mean seconds per `admit` call with `processes` (1 or 2) on one file;
    `budgeted`: the account has a dollar budget, so each call also reserves its bound."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(path or Path(tmp) / "bench.db")
        with open_store(path) as store:
            if budgeted:  # large enough never to refuse: every call takes the admit path
                store.set_budget("account", 1, "1000000", "month", now=T0)
        charge = 1000 if budgeted else None
        jobs = [(path, f"key_bench{p:07d}", 1, n, 10_000, 10**9, T0, 0.25, None, charge) for p in range(processes)]
        if processes == 1:
            _, elapsed = run_checks(*jobs[0][:8], charge_nano=charge)
            return elapsed / n
        ctx = multiprocessing.get_context("spawn")
        start, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(job, start, out)) for job in jobs]
        for p in procs:
            p.start()
        time.sleep(0.5)  # let the children import and connect
        start.set()
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
        return sum(elapsed for _, elapsed in results) / (n * processes)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    for procs in [int(sys.argv[2])] if len(sys.argv) > 2 else [1, 2]:
        print(f"{procs} process(es): {bench(n, procs) * 1e3:.4f} ms per admission, "
              f"{bench(n, procs, budgeted=True) * 1e3:.4f} ms with a budget reservation")
