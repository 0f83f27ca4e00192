"""``--admissions``: what one admission and one ledger row cost on each engine, and how many
admissions one hot key takes per second, PostgreSQL durable against fast admissions.

Modes: ``sqlite`` (one file, WAL), ``postgres durable`` (today's behaviour: each admission's
commit waits for its disk flush) and ``postgres fast`` (`PostgresStore(fast_admissions=True)`:
the admission's transaction alone commits with ``synchronous_commit = off``; ledger rows stay
durable). All on the bench's PostgreSQL (``pg.BenchPg``: fsync on, on disk).

- per admission: ``store.admit`` in a loop from one process, its own key (as the proxy's
  writer admits: with the key's digest checked where the engine's change signals are not
  exact), limits far above what a run reaches;
- one hot key: ``processes`` OS processes admit on ONE key of one account as fast as they
  can for ``seconds``: every admission takes the key's and the account's locks, so this is
  what one team key (or one account's monthly quota) can take across all its gateways;
- per ledger row: ``await StoreWriter.write(row)`` from 8 tasks (group commit), as the
  metering addon writes; wall time per row and the mean rows per commit.
"""

from __future__ import annotations

import multiprocessing
import queue
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from aispendtrack_dev.bench.pg import BenchPg

MODES = ("sqlite", "postgres durable", "postgres fast")
ACCOUNT = "bench-adm"
LIMIT = 10**9


def open_mode(mode: str, target: str, *, max_size: int = 8):
    from aispendtrack.store import open_store
    from aispendtrack.store.postgres.store import PostgresStore

    if mode == "sqlite":
        return open_store(target, migrate_schema=False)
    return PostgresStore(target, migrate_schema=False, fast_admissions=mode == "postgres fast", max_size=max_size)


def _prepare(mode: str, tmp: Path, pg: BenchPg, keys: int) -> tuple[str, list[tuple[str, str]]]:
    """A new store for `mode`: its target and `keys` keys (id, digest) of one free account."""
    from aispendtrack.config import Config
    from aispendtrack.store import open_store
    from aispendtrack.store.keytext import digest

    target = str(tmp / f"adm-{uuid.uuid4().hex[:8]}.db") if mode == "sqlite" else pg.database()
    with open_store(target) as store:
        store.create_account(ACCOUNT, "enterprise")  # no key cap; the limits are the Admission's
        made = [store.create_key(ACCOUNT, Config(), name=f"adm-{i}") for i in range(keys)]
    return target, [(k.id, digest(k.key)) for k in made]


def _admission(store, key: tuple[str, str], now: float):
    from aispendtrack.store.api.traffic import Admission

    return Admission(key[0], ACCOUNT, LIMIT, LIMIT, now, digest=None if store.exact_signals else key[1])


def per_admission(mode: str, target: str, key: tuple[str, str], n: int) -> dict:
    store = open_mode(mode, target)
    try:
        store.admit(_admission(store, key, time.time()))  # connection made, statements prepared
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            if not store.admit(_admission(store, key, time.time())).admitted:
                raise RuntimeError(f"{mode}: an admission was refused")
            times.append(time.perf_counter() - t0)
    finally:
        store.close()
    return {"us": statistics.mean(times) * 1e6, "p50_us": statistics.median(times) * 1e6,
            "p99_us": sorted(times)[int(0.99 * (len(times) - 1))] * 1e6, "n": n}


def _hot_worker(mode: str, target: str, key: tuple[str, str], seconds: float, barrier, out) -> None:
    store = open_mode(mode, target, max_size=2)
    try:
        store.admit(_admission(store, key, time.time()))
        barrier.wait()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            n += store.admit(_admission(store, key, time.time())).admitted
        out.put((n, time.perf_counter() - t0))
    except Exception as e:
        out.put((f"{type(e).__name__}: {e}", 0.0))
    finally:
        store.close()


def hot_key(mode: str, target: str, key: tuple[str, str], processes: int, seconds: float) -> dict:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_hot_worker, args=(mode, target, key, seconds, barrier, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    results = []
    deadline = time.monotonic() + seconds + 120
    while len(results) < processes:
        try:
            results.append(out.get(timeout=1.0))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise RuntimeError(f"{mode}: hot key workers failed (exit codes {dead or 'none: timed out'})") from None
    for p in procs:
        p.join(30)
    errors = [r for r, _ in results if isinstance(r, str)]
    if errors:
        raise RuntimeError(f"{mode}: hot key worker failed: {errors[0]}")
    total = sum(n for n, _ in results)
    return {"per_s": total / statistics.mean(t for _, t in results), "admitted": total, "processes": processes,
            "seconds": seconds}


def ledger_rows(mode: str, target: str, n: int, tasks: int = 8) -> dict:
    from aispendtrack_dev.bench.micro import ledger

    store = open_mode(mode, target)
    try:
        return ledger(n, tasks, store=store)
    finally:
        store.close()


def measure_admissions(pg: BenchPg, *, quick: bool, log: Callable[[str], None]) -> dict:
    n = 300 if quick else 3000
    processes, seconds = (2, 1.0) if quick else (4, 3.0)
    rows = 400 if quick else 8000
    out: dict = {"database": pg.describe(), "modes": {}}
    with tempfile.TemporaryDirectory(prefix="aispendtrack-adm-") as tmp:
        for mode in MODES:
            log(f"admissions: {mode} …")
            target, keys = _prepare(mode, Path(tmp), pg, 2)
            entry = {"admission": per_admission(mode, target, keys[0], n),
                     "hot_key": hot_key(mode, target, keys[1], processes, seconds)}
            if mode != "postgres fast":  # the rows' commit is the same in both PostgreSQL modes
                entry["ledger_row"] = ledger_rows(mode, target, rows)
            out["modes"][mode] = entry
    return out
