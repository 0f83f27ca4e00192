"""The account plane under load, and what it costs the proxy.

A real ``aispendtrack serve`` on the bench's database, asked ``GET /v1/me`` by a second
load generator process (closed loop, ``concurrency`` clients). Per repeat, three cells:

- ``me``: /v1/me alone (its p50/p95 with the proxy idle)
- ``proxy idle``: the proxy's JSON throughput (``addon+limits``) with serve up but idle
- ``proxy loaded``: the same proxy cell while /v1/me is hammered at the same time

The two proxy cells are paired per repeat (order alternating), so their ratio says how
much a busy account plane takes from the proxy on the same machine.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from aispendtrack_dev.bench.procs import BIN, Child, free_port, read_line, wait_port
from aispendtrack_dev.bench.scenarios import SERVE_KEY, Setup, run_cell
from aispendtrack_dev.bench.stats import median, spread

PROXY_CONFIG = "addon+limits"  # the limiter reads and writes the SQLite file serve reads
ME_PATH = "/v1/me"


def start_serve(setup: Setup) -> tuple[Child, Child]:
    """`aispendtrack serve` on the bench DB, and a second load generator to hammer it."""
    port = free_port()
    argv = [str(BIN / "aispendtrack"), "--config", str(setup.tmp / "mitm.toml"), "--db", str(setup.db_path),
            "serve", "--port", str(port)]
    serve = setup.children.spawn("aispendtrack serve", argv, log_path=setup.tmp / "serve.log", port=port,
                                 cwd=setup.tmp)
    loadgen = setup.children.spawn("load generator (serve)", [sys.executable, "-m", "aispendtrack_dev.bench.load"],
                                   pipes=True)
    wait_port(port, serve, timeout=60)
    return serve, loadgen


def _send(loadgen: Child, cmd: dict) -> None:
    assert loadgen.proc.stdin is not None
    loadgen.proc.stdin.write((json.dumps(cmd) + "\n").encode())
    loadgen.proc.stdin.flush()


def _receive(loadgen: Child, timeout: float) -> dict:
    result = json.loads(read_line(loadgen, timeout))
    if "fatal" in result:
        raise RuntimeError(f"serve load generator failed: {result['fatal']}")
    return result


def _me_cmd(serve: Child, setup: Setup, concurrency: int, duration: float, warmup: float) -> dict:
    return {"port": serve.port, "config": "serve", "stream": False, "concurrency": concurrency,
            "duration": duration, "warmup": warmup, "key": setup.keys[SERVE_KEY].key, "get": ME_PATH}


def _me_alone(loadgen: Child, cmd: dict) -> dict:
    _send(loadgen, cmd)
    return _receive(loadgen, cmd["warmup"] + cmd["duration"] + 90)


def _proxy(setup: Setup, concurrency: int, duration: float, warmup: float) -> dict:
    return run_cell(setup, config=PROXY_CONFIG, stream=False, concurrency=concurrency, duration=duration,
                    warmup=warmup)


def _proxy_while_loaded(setup: Setup, loadgen: Child, cmd: dict, concurrency: int, duration: float,
                        warmup: float) -> tuple[dict, dict]:
    # serve's load starts first and ends after the proxy cell: the whole proxy window is under load
    _send(loadgen, {**cmd, "duration": duration + warmup + 0.5})
    proxy = _proxy(setup, concurrency, duration, warmup)
    me = _receive(loadgen, cmd["warmup"] + cmd["duration"] + 90)
    return proxy, me


def measure_serve(setup: Setup, *, concurrency: int, repeats: int, duration: float, warmup: float,
                  log: Callable[[str], None]) -> tuple[dict, list[dict]]:
    """The summary for the JSON/report, and the proxy cells (for the harness checks)."""
    serve, loadgen = start_serve(setup)
    cmd = _me_cmd(serve, setup, concurrency, duration, warmup)
    cells: list[dict] = []
    for rep in range(repeats):
        me_alone = _me_alone(loadgen, cmd)
        if rep % 2 == 0:
            idle = _proxy(setup, concurrency, duration, warmup)
            loaded, me_loaded = _proxy_while_loaded(setup, loadgen, cmd, concurrency, duration, warmup)
        else:
            loaded, me_loaded = _proxy_while_loaded(setup, loadgen, cmd, concurrency, duration, warmup)
            idle = _proxy(setup, concurrency, duration, warmup)
        for what, r in (("me", me_alone), ("proxy idle", idle), ("proxy loaded", loaded),
                        ("me during proxy", me_loaded)):
            r.update(workload="serve", repeat=rep, phase=what)
            cells.append(r)
            log(f"  serve rep {rep + 1} {what:16} c={concurrency:<3} {r['rps']:8.1f} req/s  "
                f"p50 {r['p50_ms'] or 0:7.2f} ms  p95 {r['p95_ms'] or 0:7.2f} ms  errors {r['errors']}")
    out = summarise(cells, concurrency)
    out["serve_log"] = serve.output()[-2000:]
    return out, [c for c in cells if c["phase"].startswith("proxy")]


def summarise(cells: list[dict], concurrency: int) -> dict:
    def phase(name: str) -> dict:
        rows = [c for c in cells if c["phase"] == name]
        return {"rps": median([c["rps"] for c in rows]), "p50_ms": median([c["p50_ms"] for c in rows]),
                "p95_ms": median([c["p95_ms"] for c in rows]), "p50_range": spread([c["p50_ms"] for c in rows]),
                "ok": sum(c["ok"] for c in rows), "errors": sum(c["errors"] for c in rows),
                "error_samples": [s for c in rows for s in c["error_samples"]][:5]}

    by = {(c["repeat"], c["phase"]): c for c in cells}
    reps = sorted({c["repeat"] for c in cells})
    pairs = [by[(r, "proxy loaded")]["rps"] / by[(r, "proxy idle")]["rps"] for r in reps
             if by[(r, "proxy idle")]["rps"]]
    return {"concurrency": concurrency, "proxy_config": PROXY_CONFIG, "path": ME_PATH,
            "me": phase("me"), "me_during_proxy": phase("me during proxy"),
            "proxy_idle": phase("proxy idle"), "proxy_loaded": phase("proxy loaded"),
            "proxy_rps_ratio": median(pairs), "proxy_rps_ratio_range": spread(pairs)}
