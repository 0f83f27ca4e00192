"""`python -m aispendtrack_dev.bench`: proxy overhead benchmark, interleaved, with micro-costs.

Orchestration only: parse the flags, start the processes (``scenarios``), run the
round-robin schedule, summarise (``stats``), check the harness (``checks``), optionally
profile (``profiling``), time the micro-costs (``micro``), print (``table``) and write
the JSON. Tables show medians over repeats and their min–max spread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from aispendtrack_dev.bench.checks import checks
from aispendtrack_dev.bench.procs import REPO, Children
from aispendtrack_dev.bench.profiling import profile_addon
from aispendtrack_dev.bench.scenarios import STREAM_CHUNKS, STREAM_DELAY, WORKLOADS, measure_all, start
from aispendtrack_dev.bench.serveload import measure_serve
from aispendtrack_dev.bench.stats import (TARGET_ADDED_P50_MS, TARGET_BUDGET_RATIO, TARGET_P50_CONCURRENCY,
                                          TARGET_RPS_RATIO, TARGET_TTFB_DELTA_MS, aggregate, ratios)
from aispendtrack_dev.bench.table import print_report

CACHE = REPO / ".bench"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke mode: short cells, 1 repeat, small ledger (< 60 s)")
    ap.add_argument("--duration", type=float, help="measured seconds per cell (default 3; quick 0.6)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per cell, not measured (default 0.5; quick 0.2)")
    ap.add_argument("--repeats", type=int, help="round-robin repeats (default 5; quick 1)")
    ap.add_argument("--concurrency", default="1,8", help="comma-separated concurrency levels (default 1,8)")
    ap.add_argument("--workloads", default="json,sse", help="json, sse or both (default json,sse)")
    ap.add_argument("--ledger-rows", type=int, help="rows of the generated ledger for the report timing "
                                                    "(default 1000000; quick 20000); cached under .bench/")
    ap.add_argument("--no-micro", action="store_true", help="skip the micro-costs")
    ap.add_argument("--no-load", action="store_true", help="skip the proxy load runs (micro-costs only)")
    ap.add_argument("--no-serve", action="store_true", help="skip the account plane part (/v1/me under load, "
                                                            "proxy throughput with serve idle vs hammered)")
    ap.add_argument("--gateways", default="", metavar="N,N,…",
                    help="also N gateways (mitmdump + addon, own confdirs) on ONE store, c=8 each, JSON, limits on: "
                         "on one SQLite file and on one PostgreSQL (started by the bench, fsync on), next to N bare "
                         "mitmdumps, e.g. 1,2,4")
    ap.add_argument("--admissions", action="store_true",
                    help="also µs per admission and per ledger row on SQLite and PostgreSQL, and one hot key's "
                         "admissions/s, PostgreSQL admissions durable vs fast (synchronous_commit off)")
    ap.add_argument("--baseline", metavar="REV",
                    help="also run the proxy part's addon configurations on commit REV (a temporary git worktree, "
                         "this .venv when its dependencies are the same), interleaved with this tree's: "
                         "before/after from one run")
    ap.add_argument("--plane", action="store_true",
                    help="also the account plane over the generated ledger (--ledger-rows): GET /v1/me and the "
                         "dashboard next to a trivial FastAPI endpoint served the same way (c=8), the dashboard's "
                         "first render, report by model and by provider")
    ap.add_argument("--profile", action="store_true", help="also profile the addon process under load (py-spy)")
    ap.add_argument("--profile-duration", type=float, default=None, help="seconds per profiled workload (default 8)")
    ap.add_argument("--json", dest="json_out", help="write all results as JSON to this file")
    ap.add_argument("--addon-arg", action="append", default=[], metavar="ARG",
                    help="extra mitmdump argument for the addon process only (what-if experiments, e.g. "
                         "--addon-arg=-s --addon-arg=/tmp/tweak.py); repeatable")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, DB, profiles)")
    a = ap.parse_args(argv)
    a.duration = a.duration if a.duration is not None else (0.6 if a.quick else 3.0)
    a.warmup = a.warmup if a.warmup is not None else (0.2 if a.quick else 0.5)
    a.repeats = a.repeats if a.repeats is not None else (1 if a.quick else 5)
    a.ledger_rows = a.ledger_rows if a.ledger_rows is not None else (20_000 if a.quick else 1_000_000)
    a.profile_duration = a.profile_duration or (2.0 if a.quick else 8.0)
    a.concurrency = [int(x) for x in str(a.concurrency).split(",") if x.strip()]
    a.workloads = [w.strip() for w in a.workloads.split(",") if w.strip()]
    try:
        a.gateways = [int(x) for x in a.gateways.split(",") if x.strip()]
    except ValueError:
        ap.error("--gateways: comma-separated counts, e.g. 1,2,4")
    if a.gateways and (min(a.gateways) < 1 or max(a.gateways) > 16):
        ap.error("--gateways: counts between 1 and 16")
    for w in a.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}: json, sse")
    if not a.concurrency or min(a.concurrency) < 1 or max(a.concurrency) > 256:
        ap.error("--concurrency: levels between 1 and 256")
    if a.repeats < 1 or a.repeats > 100 or a.duration <= 0 or a.duration > 600:
        ap.error("--repeats 1..100, --duration 0..600")
    return a


def new_data(a: argparse.Namespace) -> dict:
    """The JSON skeleton: what ran where, with which settings and targets."""
    import mitmproxy.version

    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "mitmproxy": mitmproxy.version.VERSION, "loadavg_start": [round(x, 2) for x in os.getloadavg()],
                    "platform": platform.platform()},
        "settings": {"quick": a.quick, "duration": a.duration, "warmup": a.warmup, "repeats": a.repeats,
                     "concurrency": a.concurrency, "workloads": a.workloads, "stream_delay_s": STREAM_DELAY,
                     "stream_events": STREAM_CHUNKS + 4, "ledger_rows": a.ledger_rows, "addon_args": a.addon_arg,
                     "gateways": a.gateways, "admissions": a.admissions, "baseline": a.baseline,
                     "plane": a.plane},
        "targets": {"rps_ratio_min": TARGET_RPS_RATIO, "added_p50_ms_max": TARGET_ADDED_P50_MS,
                    "added_p50_at_concurrency": TARGET_P50_CONCURRENCY, "budget_ratio_min": TARGET_BUDGET_RATIO,
                    "ttfb_delta_ms_max": TARGET_TTFB_DELTA_MS},
        "scenarios": [], "ratios": [], "checks": {}, "raw": [],
    }


def run_load(a: argparse.Namespace, data: dict, tmp: Path, children: Children) -> None:
    """The proxy load part: every cell, summaries, harness checks, optional profile, proxy logs."""
    want_stream = "sse" in a.workloads
    baseline = None
    if a.baseline:
        from aispendtrack_dev.bench import baseline as basemod

        log(f"bench: checking out {a.baseline} into a temporary worktree …")
        baseline = basemod.prepare(a.baseline, tmp / "baseline", CACHE, log)
        data["baseline"] = {"rev": a.baseline, "sha": baseline.sha, "venv": baseline.venv,
                            "describe": baseline.describe()}
    try:
        _run_load(a, data, tmp, children, want_stream, baseline)
    finally:
        if baseline is not None:
            children.stop_all()  # its processes, before their checkout goes
            basemod.remove(baseline.checkout)


def _run_load(a: argparse.Namespace, data: dict, tmp: Path, children: Children, want_stream: bool,
              baseline) -> None:
    log(f"bench: starting fake provider, load generator and mitmdump processes in {tmp} …")
    setup = start(tmp, children, want_stream=want_stream, addon_args=a.addon_arg, baseline=baseline)
    cells = measure_all(setup, workloads=a.workloads, concurrency=a.concurrency, repeats=a.repeats,
                        duration=a.duration, warmup=a.warmup, log=log)
    data["raw"] = cells
    data["scenarios"] = aggregate(cells)
    data["ratios"] = ratios(cells)
    serve_cells: list[dict] = []
    if not a.no_serve:
        log("bench: starting aispendtrack serve and a second load generator for /v1/me …")
        data["serve"], serve_cells = measure_serve(setup, concurrency=max(a.concurrency), repeats=a.repeats,
                                                   duration=a.duration, warmup=a.warmup, log=log)
    data["checks"] = checks(setup, cells + serve_cells)
    if a.profile:
        log("bench: profiling the addon process …")
        data["profile"] = profile_addon(setup, duration=a.profile_duration, concurrency=max(a.concurrency))
    for name in ("addon", "base:addon", "bare", "bare-stream"):
        if name in setup.proxies:
            data.setdefault("proxy_logs", {})[name] = setup.proxies[name].output()[-2000:]
    children.stop_all()  # before the micro-costs: they should not compete with idle proxies


def run_parts(a: argparse.Namespace, data: dict, tmp: Path, children: Children) -> None:
    """The optional parts: gateways on one store, admission costs (one PostgreSQL for both)."""
    if not (a.gateways or a.admissions):
        return
    from aispendtrack_dev.bench.pg import BenchPg

    pg = BenchPg()
    try:
        if a.gateways:
            from aispendtrack_dev.bench.gateways import measure_gateways

            where = tmp / "gateways"
            where.mkdir()
            data["gateways"] = measure_gateways(where, children, pg, counts=a.gateways, repeats=a.repeats,
                                                duration=a.duration, warmup=a.warmup, log=log)
        if a.admissions:
            from aispendtrack_dev.bench.admissions import measure_admissions

            data["admissions"] = measure_admissions(pg, quick=a.quick, log=log)
    finally:
        children.stop_all()  # the gateways, before their database server
        pg.close()


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    data = new_data(a)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    tmp = Path(tempfile.mkdtemp(prefix="aispendtrack-bench-"))
    children = Children()
    t_begin = time.monotonic()
    try:
        if not a.no_load:
            run_load(a, data, tmp, children)
        run_parts(a, data, tmp, children)
        if a.plane:
            from aispendtrack_dev.bench.micro import cached_ledger
            from aispendtrack_dev.bench.plane import measure_plane

            log(f"bench: the account plane over a {a.ledger_rows:,}-row ledger …")
            ledger, _ = cached_ledger(CACHE, a.ledger_rows)
            data["plane"] = measure_plane(ledger, a.ledger_rows, repeats=a.repeats, duration=a.duration,
                                          warmup=a.warmup, log=log)
        if not a.no_micro:
            from aispendtrack_dev.bench import micro

            # with --plane, the dashboard's first render was measured there
            data["micro"] = micro.run_all(quick=a.quick, cache_dir=CACHE, ledger_rows=a.ledger_rows, log=log,
                                          with_dashboard=not a.plane)
        data["elapsed_s"] = round(time.monotonic() - t_begin, 1)
        print_report(data)
        log(f"bench: done in {data['elapsed_s']} s")
        if a.json_out:
            Path(a.json_out).write_text(json.dumps(data, indent=1, default=str))
        failed = [c for c, v in data["checks"].items() if not v["ok"]] + \
                 [f"gateways/{k}" for k, v in data.get("gateways", {}).get("checks", {}).items() if not v["ok"]] + \
                 [f"gateways/{r['gateways']}/{r['kind']}" for r in data.get("gateways", {}).get("rows", [])
                  if r["errors"]] + \
                 [f"{r['workload']}/{r['concurrency']}/{r['config']}" for r in data["scenarios"] if r["errors"]] + \
                 [f"serve/{k}" for k, v in data.get("serve", {}).items() if isinstance(v, dict) and v.get("errors")] + \
                 [f"plane/{k}" for k, v in data.get("plane", {}).get("endpoints", {}).items() if v["errors"]]
        if failed:
            log(f"bench: harness checks failed: {', '.join(failed)}")
            return 1
        return 0
    except KeyboardInterrupt:
        log("bench: interrupted, stopping processes …")
        return 130
    finally:
        children.stop_all()
        if a.keep:
            log(f"bench: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
