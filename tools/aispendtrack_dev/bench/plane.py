"""``--plane``: the account plane over a large ledger, next to a trivial FastAPI endpoint
served the same way, in the same run.

A real ``aispendtrack serve`` on a copy of the cached generated ledger (default 1,000,000
rows; its busiest account on the pro tier, a key of it and a dashboard session made by
logging in as a person does), and ``trivial.py`` (one uvicorn process, the same settings).
Measured:

- the dashboard's first render: the first ``GET /`` after the login, timed once;
- c=8 closed-loop cells, rotated each repeat: the trivial endpoint (``async def`` and plain
  ``def``), ``GET /v1/me`` (the key's header), ``GET /`` (the dashboard, with the session);
  each answer must be a 200 with a well-framed body;
- ``report`` over the ledger, in process on the same copy (serve stopped), by model and by
  provider (all time, the daily series included, as the CLI prints it), median of 3.

Targets (issue 21): ``/v1/me`` and the dashboard at ≥ 25 % of the trivial endpoint's req/s
with p50 ≤ 10 ms at c=8; ``report`` < 1 s.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aispendtrack_dev.bench.dashboard import get_page, login, prepare_ledger
from aispendtrack_dev.bench.load import get_headers
from aispendtrack_dev.bench.procs import BIN, Child, Children, free_port, wait_port
from aispendtrack_dev.bench.scenarios import ask
from aispendtrack_dev.bench.stats import median, spread

CONCURRENCY = 8
TARGET_SHARE = 0.25  # of the trivial endpoint's req/s
TARGET_P50_MS = 10.0
TARGET_REPORT_S = 1.0
TARGET_FIRST_RENDER_MS = 300
COOKIE = "aispendtrack_session"
ENDPOINTS = {  # name → (server, path, sends the key, sends the session)
    "trivial": ("trivial", "/ping", False, False),
    "trivial (def)": ("trivial", "/ping-def", False, False),
    "/v1/me": ("serve", "/v1/me", True, False),
    "dashboard": ("serve", "/", False, True),
}
MEASURED = ("/v1/me", "dashboard")  # against "trivial"


def probe(port: int, path: str, key: str | None, cookie: str | None) -> tuple[int, str]:
    """One GET with the headers the load generator sends: its status and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers=get_headers(port, key, cookie))
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def check_answers(cmds: dict[str, dict], account: str) -> None:
    """What the cells will be answered is the real thing: the dashboard page of the session
    (not the login form, also a 200), /v1/me of the key's account."""
    for name, cmd in cmds.items():
        status, body = probe(cmd["port"], cmd["get"], cmd["key"], cmd["cookie"])
        if status != 200:
            raise RuntimeError(f"plane: {name} answered {status}: {body[:200]}")
        if name == "dashboard" and 'data-testid="spend-month"' not in body:
            raise RuntimeError("plane: the dashboard cells would measure another page than the dashboard")
        if name == "/v1/me" and json.loads(body).get("account") != account:
            raise RuntimeError(f"plane: /v1/me answered another account: {body[:200]}")


def report_times(db_path: Path, runs: int = 3) -> dict:
    from aispendtrack.store import open_store
    from aispendtrack.views.report import report

    out = {}
    with open_store(db_path) as store:
        for by in ("model", "provider"):
            times, calls = [], None
            for _ in range(runs):
                t0 = time.perf_counter()
                rep = report(store, by=by)
                times.append(time.perf_counter() - t0)
                calls = rep.totals.calls
            out[by] = {"s": statistics.median(times), "min_s": min(times), "calls": calls,
                       "groups": len(rep.groups), "ok": statistics.median(times) < TARGET_REPORT_S}
    return out


def _start(tmp: Path, children: Children, db_path: Path) -> tuple[dict[str, Child], float]:
    """serve on the ledger and the trivial app; serve's start-up time."""
    (tmp / "mitm.toml").write_text("")
    port = free_port()
    serve = children.spawn("aispendtrack serve (plane)", [str(BIN / "aispendtrack"), "--config", str(tmp / "mitm.toml"),
                           "--db", str(db_path), "serve", "--port", str(port)],
                           log_path=tmp / "serve.log", port=port, cwd=tmp)
    t0 = time.perf_counter()
    port = free_port()
    trivial = children.spawn("trivial FastAPI", [sys.executable, "-m", "aispendtrack_dev.bench.trivial", "--port",
                             str(port)], log_path=tmp / "trivial.log", port=port, cwd=tmp)
    wait_port(serve.port, serve, timeout=600)  # type: ignore[arg-type]
    startup = time.perf_counter() - t0
    wait_port(trivial.port, trivial, timeout=60)  # type: ignore[arg-type]
    return {"serve": serve, "trivial": trivial}, startup


def measure_plane(ledger: Path, n_rows: int, *, repeats: int, duration: float, warmup: float,
                  log: Callable[[str], None]) -> dict:
    with tempfile.TemporaryDirectory(prefix="aispendtrack-plane-") as tmp_name:
        tmp = Path(tmp_name)
        db_path, account, key, account_rows = prepare_ledger(ledger, tmp)
        own = Children()
        try:
            first, startup, cells = _cells(own, tmp, db_path, account, key, repeats=repeats, duration=duration,
                                           warmup=warmup, log=log)
        finally:
            own.stop_all()  # nothing else running while the report is timed (and before tmp goes)
        log("plane: report over the ledger, by model and by provider …")
        return {"rows": n_rows, "account": account, "account_rows": account_rows, "concurrency": CONCURRENCY,
                "first_render_ms": first * 1e3, "first_render_ok": first * 1e3 < TARGET_FIRST_RENDER_MS,
                "serve_startup_s": startup, "endpoints": summarise(cells), "report": report_times(db_path),
                "raw": cells}


def _cells(children: Children, tmp: Path, db_path: Path, account: str, key: str, *, repeats: int, duration: float,
           warmup: float, log: Callable[[str], None]) -> tuple[float, float, list[dict]]:
    """The first render (seconds), serve's start-up (seconds) and the load cells."""
    servers, startup = _start(tmp, children, db_path)
    base = f"http://127.0.0.1:{servers['serve'].port}"
    get_page(base + "/", "")  # what a person sees first: the login form
    session = login(base, key)
    first, page = get_page(base + "/", session)
    if 'data-testid="spend-month"' not in page:
        raise RuntimeError("the dashboard page has no spend-month figure")
    loadgen = children.spawn("load generator (plane)", [sys.executable, "-m", "aispendtrack_dev.bench.load"],
                             pipes=True)
    cmds = {name: {"port": servers[server].port, "config": name, "stream": False, "concurrency": CONCURRENCY,
                   "duration": duration, "warmup": warmup, "get": path, "key": key if with_key else None,
                   "cookie": f"{COOKIE}={session}" if with_session else None}
            for name, (server, path, with_key, with_session) in ENDPOINTS.items()}
    check_answers(cmds, account)
    cells = []
    names = list(ENDPOINTS)
    for rep in range(repeats):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            r = ask(loadgen, cmds[name], warmup + duration + 90)
            r.update(endpoint=name, repeat=rep)
            cells.append(r)
            log(f"  plane rep {rep + 1} {name:14} c={CONCURRENCY} {r['rps']:8.1f} req/s  p50 "
                f"{r['p50_ms'] or 0:7.2f} ms  p99 {r['p99_ms'] or 0:7.2f} ms  errors {r['errors']}")
    return first, startup, cells


def summarise(cells: list[dict]) -> dict:
    by = {(c["repeat"], c["endpoint"]): c for c in cells}
    out = {}
    for name in ENDPOINTS:
        rs = [c for c in cells if c["endpoint"] == name]
        entry = {"rps": median([c["rps"] for c in rs]), "rps_range": spread([c["rps"] for c in rs]),
                 "p50_ms": median([c["p50_ms"] for c in rs]), "p99_ms": median([c["p99_ms"] for c in rs]),
                 "ok": sum(c["ok"] for c in rs), "errors": sum(c["errors"] for c in rs),
                 "error_samples": [s for c in rs for s in c["error_samples"]][:5]}
        if name in MEASURED:
            shares = [c["rps"] / by[(c["repeat"], "trivial")]["rps"] for c in rs
                      if by.get((c["repeat"], "trivial")) and by[(c["repeat"], "trivial")]["rps"]]
            entry.update(share=median(shares), share_range=spread(shares))
            entry["meets"] = {"share": entry["share"] is not None and entry["share"] >= TARGET_SHARE,
                              "p50": entry["p50_ms"] is not None and entry["p50_ms"] <= TARGET_P50_MS}
        out[name] = entry
    return out
