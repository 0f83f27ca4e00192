"""Micro-costs of the addon's building blocks, per call, outside mitmproxy.

Each function returns a dict: ``{"us": <microseconds per call>, "detail": "..."}`` or
``{"skipped": "n/a (...)"}`` when the module under test is missing (other engineers are
still writing some of them): the bench carries on.
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

perf = time.perf_counter


def _missing(e: BaseException) -> dict:
    return {"skipped": f"n/a (module missing: {e})"}


def limiter(n: int, processes: int, budgeted: bool = False) -> dict:
    """The store's `admit` on one SQLite file (WAL) from 1 or 2 OS processes, via limits_bench.py;
    `budgeted`: with the dollar-budget reservation folded into the same transaction."""
    try:
        from aispendtrack_dev.limits_bench import bench
    except ImportError as e:
        return _missing(e)
    seconds = bench(n, processes, budgeted=budgeted)
    what = ", budget reserved per call" if budgeted else ""
    return {"us": seconds * 1e6, "detail": f"{n} calls per process, {processes} process(es), lock waits included{what}"}


def sample_row(i: int = 0) -> dict:
    """A ledger row like the metering addon writes for a priced chat call."""
    return {
        "ts": datetime.now(UTC), "flow_id": str(uuid.uuid4()), "key_id": "key_0123456789ab",
        "key_hint": "ask_…abcd", "account": "bench", "provider": "openai", "api": "chat",
        "model": "gpt-4o-mini-2024-07-18", "request_model": "gpt-4o-mini", "method": "POST",
        "path": "/v1/chat/completions", "status": 200, "outcome": "forwarded", "streamed": False,
        "partial": False, "input_tokens": 1200, "output_tokens": 300, "cache_read_tokens": 400,
        "cache_write_tokens": None, "reasoning_tokens": 50,
        "usage_json": {"input_tokens": 1200, "output_tokens": 300, "cache_read_tokens": 400},
        "cost_usd": Decimal("0.000315"), "pricing": "priced", "cost_source": "genai-prices",
        "latency_ms": 1.234, "ttfb_ms": 0.987, "error": None,
    }


def ledger(n: int, tasks: int = 8, store=None) -> dict:
    """`await StoreWriter.write(row)` from `tasks` concurrent tasks: wall time per row and await
    latency; on `store` (default: a new SQLite file)."""
    try:
        from aispendtrack.store import open_store
        from aispendtrack.store.writer import StoreWriter
    except ImportError as e:
        return _missing(e)
    with tempfile.TemporaryDirectory() as tmp:
        own = store is None
        store = open_store(Path(tmp) / "ledger.db") if own else store
        writer = StoreWriter(store)
        writer.start()
        waits: list[float] = []
        per_task = max(1, n // tasks)

        async def one(t: int) -> None:
            for i in range(per_task):
                row = sample_row(i)
                t0 = perf()
                await writer.write(row)
                waits.append(perf() - t0)

        async def main() -> float:
            t0 = perf()
            await asyncio.gather(*(one(t) for t in range(tasks)))
            return perf() - t0

        try:
            elapsed = asyncio.run(main())
        finally:
            writer.close()
            if own:
                store.close()
        stats = writer.stats
    rows = per_task * tasks
    mean_batch = stats.rows_written / max(stats.batches, 1)
    return {
        "us": elapsed / rows * 1e6,
        "await_p50_us": statistics.median(waits) * 1e6,
        "mean_batch": mean_batch,
        "detail": f"{rows} rows from {tasks} tasks; await p50 {statistics.median(waits) * 1e6:.0f} µs; "
                  f"mean group commit {mean_batch:.1f} rows",
    }


def _sample_bodies() -> tuple[bytes, list[bytes]]:
    """A non-streamed body and the SSE frames of a streamed one, as the fake provider sends them."""
    from aispendtrack.demo.fake.wire import Call, UsageSpec, build, split_text

    req = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi to the benchmark"}]}
    text = split_text("Fake reply to: Say hi to the benchmark", 2)
    body = build(Call("openai", "chat", req, text, UsageSpec(), "fake-000001-0123456789ab")).body
    sreq = {**req, "stream": True, "stream_options": {"include_usage": True}}
    frames = build(Call("openai", "chat", sreq, text, UsageSpec(), "fake-000002-0123456789ab", stream=True)).frames
    assert body is not None and frames is not None
    return body, frames


def metering(n: int) -> dict:
    """`meter_body` / `StreamMeter` + `Pricer.price` per call (a warm per-model price cache)."""
    try:
        meter = importlib.import_module("aispendtrack.meter")
        pricing = importlib.import_module("aispendtrack.meter.pricing")
        meter_body, StreamMeter, Pricer = meter.meter_body, meter.StreamMeter, pricing.Pricer
    except (ImportError, AttributeError) as e:
        return {"body": _missing(e), "stream": _missing(e), "price": _missing(e)}
    body, frames = _sample_bodies()
    pricer = Pricer()
    when = datetime.now(UTC)
    m = meter_body("openai", "chat", body)
    priced = pricer.price(m, m.model or "gpt-4o-mini", "openai", when=when)  # warms the cache
    out: dict = {}

    def timeit(fn) -> float:
        fn()
        best = []
        for _ in range(3):
            t0 = perf()
            for _ in range(n):
                fn()
            best.append((perf() - t0) / n)
        return min(best) * 1e6

    def body_only():
        meter_body("openai", "chat", body)

    def stream_only():
        sm = StreamMeter("openai", "chat")
        for f in frames:
            sm.feed(f)
        sm.feed(b"")
        return sm.result()

    def price_only():
        pricer.price(m, m.model or "gpt-4o-mini", "openai", when=when)

    sm_result = stream_only()
    out["body"] = {"us": timeit(body_only), "detail": f"{len(body)} B chat completion; tokens in={m.input_tokens} "
                   f"out={m.output_tokens}"}
    out["stream"] = {"us": timeit(stream_only), "detail": f"{len(frames)} SSE events, {sum(map(len, frames))} B; "
                     f"usage found={sm_result.has_usage}"}
    out["price"] = {"us": timeit(price_only), "detail": f"{m.model}: {priced.pricing} ${priced.cost_usd} "
                    f"({priced.source}), cached lookup"}
    return out


def _make_ledger_fn():
    for modname in ("aispendtrack_dev.synth", "aispendtrack.views.report"):
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        fn = getattr(mod, "make_ledger", None)
        if fn is not None:
            return fn
    return None


def cached_ledger(cache_dir: Path, n_rows: int, seed: int = 0) -> tuple[Path, float | None]:
    """A generated ledger of `n_rows` rows, cached under `cache_dir` by n and seed.

    Returns (path, seconds spent generating, or None when it came from the cache). Built
    in a temporary file renamed into place, so an interrupted build leaves no bad cache.
    """
    from aispendtrack.store import open_store
    from aispendtrack.store.db import connect

    make_ledger = _make_ledger_fn()
    if make_ledger is None:
        raise ImportError("no make_ledger in aispendtrack_dev.synth or aispendtrack.views.report")
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"ledger-n{n_rows}-seed{seed}.db"
    if path.exists():
        return path, None
    tmp = path.with_suffix(f".tmp{uuid.uuid4().hex[:6]}")
    t0 = perf()
    try:
        with open_store(tmp) as store:
            make_ledger(store, n_rows, seed)
        db = connect(tmp)  # one self-contained file (no -wal): copied as it is
        try:
            db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.conn.execute("PRAGMA journal_mode=DELETE")
        finally:
            db.conn.close()
        tmp.rename(path)
    finally:
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}-walowner")):
            p.unlink(missing_ok=True)
    return path, perf() - t0


def report(cache_dir: Path, n_rows: int, seed: int = 0, runs: int = 3) -> dict:
    """`aispendtrack.views.report.report(store)` (all time, by model) over a generated ledger."""
    try:
        from aispendtrack.views.report import report as report_fn
    except ImportError as e:
        return _missing(e)
    try:
        path, gen = cached_ledger(cache_dir, n_rows, seed)
    except ImportError as e:
        return _missing(e)
    from aispendtrack.store import open_store

    times = []
    for _ in range(runs):
        with open_store(path) as store:
            t0 = perf()
            rep = report_fn(store)
            times.append(perf() - t0)
    calls = getattr(getattr(rep, "totals", None), "calls", None)
    gen_text = f"generated in {gen:.1f} s" if gen is not None else "cached"
    return {
        "ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3, "rows": n_rows, "calls_in_report": calls,
        "detail": f"{n_rows:,} rows ({gen_text}: {path.name}); median of {runs}, min {min(times) * 1e3:.0f} ms",
    }


def dashboard(cache_dir: Path, n_rows: int, seed: int = 0) -> dict:
    """The dashboard's first render (`aispendtrack serve`, `GET /`) over a generated ledger."""
    from aispendtrack_dev.bench.dashboard import dashboard as measure

    path, _ = cached_ledger(cache_dir, n_rows, seed)
    return measure(path, n_rows)


def run_all(*, quick: bool, cache_dir: Path, ledger_rows: int, log=print, with_dashboard: bool = True) -> dict:
    n_lim = 2_000 if quick else 20_000
    n_ledger = 2_000 if quick else 20_000
    n_meter = 300 if quick else 3_000
    out: dict = {}
    steps = [
        ("limiter_1proc", lambda: limiter(n_lim, 1)),
        ("limiter_2proc", lambda: limiter(n_lim, 2)),
        ("limiter_budget_1proc", lambda: limiter(n_lim, 1, budgeted=True)),
        ("ledger_write", lambda: ledger(n_ledger)),
        ("metering", lambda: metering(n_meter)),
        ("report", lambda: report(cache_dir, ledger_rows)),
    ]
    if with_dashboard:
        steps.append(("dashboard", lambda: dashboard(cache_dir, ledger_rows)))
    for name, fn in steps:
        log(f"micro: {name} …")
        try:
            out[name] = fn()
        except Exception as e:  # one broken building block must not sink the whole bench
            out[name] = {"skipped": f"failed: {type(e).__name__}: {e}"}
    return out
