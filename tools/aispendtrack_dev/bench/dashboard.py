"""The dashboard's first render over a generated ledger: a real `aispendtrack serve` on a
copy of the cached 1,000,000-row ledger, a person's steps (the login form, the login),
then the first `GET /` with the session timed over HTTP."""

from __future__ import annotations

import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

TARGET_MS = 300
perf = time.perf_counter


def get_page(url: str, cookie: str) -> tuple[float, str]:
    req = urllib.request.Request(url, headers={"cookie": f"aispendtrack_session={cookie}"})
    t0 = perf()
    with urllib.request.urlopen(req, timeout=60) as resp:
        body = resp.read().decode()
    return perf() - t0, body


def login(base: str, key: str) -> str:
    """The session id a dashboard login with `key` sets (the tests log in this way too)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    req = urllib.request.Request(base + "/login", data=urllib.parse.urlencode({"key": key}).encode(),
                                 headers={"origin": base, "content-type": "application/x-www-form-urlencoded"})
    try:
        urllib.request.build_opener(NoRedirect).open(req, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code != 303:
            raise
        return re.search(r"aispendtrack_session=([^;]+)", e.headers["set-cookie"]).group(1)
    raise RuntimeError("login did not answer 303")


def prepare_ledger(ledger: Path, tmp: Path) -> tuple[Path, str, str, int]:
    """A copy of the ledger with the busiest account on the pro tier and a key for it."""
    from aispendtrack.config import Config
    from aispendtrack.store import open_store

    db_path = tmp / "ledger.db"
    shutil.copy(ledger, db_path)
    with open_store(db_path) as store:  # its schema brought up to date
        with store.connection() as conn:
            account, rows = conn.execute(
                "SELECT account, COUNT(*) FROM calls GROUP BY account ORDER BY 2 DESC LIMIT 1").fetchone()
        store.create_account(account, "pro")
        key = store.create_key(account, Config(), name="bench").key
    return db_path, account, key, rows


def dashboard(ledger: Path, n_rows: int, runs: int = 5) -> dict:
    from aispendtrack.launch import free_port, stop_process, wait_port

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db_path, account, key, account_rows = prepare_ledger(ledger, tmp)
        (tmp / "mitm.toml").write_text("")
        port = free_port()
        argv = [str(Path(sys.executable).parent / "aispendtrack"), "--config", str(tmp / "mitm.toml"),
                "--db", str(db_path), "serve", "--port", str(port)]
        t0 = perf()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port, proc=proc, timeout=600)
            startup = perf() - t0
            base = f"http://127.0.0.1:{port}"
            urllib.request.urlopen(base + "/", timeout=60).read()  # what a person sees first: the login form
            cookie = login(base, key)
            first, page = get_page(base + "/", cookie)
            if 'data-testid="spend-month"' not in page:
                raise RuntimeError("the dashboard page has no spend-month figure")
            later = [get_page(base + "/", cookie)[0] for _ in range(runs)]
            live = [get_page(base + "/dashboard/live.json", cookie)[0] for _ in range(runs)]
        finally:
            stop_process(proc, signal.SIGTERM)
    ms = first * 1e3
    return {
        "ms": ms, "median_ms": statistics.median(later) * 1e3, "live_ms": statistics.median(live) * 1e3,
        "startup_s": startup, "ok": ms < TARGET_MS,
        "detail": f"{n_rows:,} rows, account {account} has {account_rows:,}; later renders median "
                  f"{statistics.median(later) * 1e3:.0f} ms, live.json {statistics.median(live) * 1e3:.0f} ms; "
                  f"serve start-up {startup:.1f} s (daily sums built once); target < {TARGET_MS} ms "
                  + ("✓" if ms < TARGET_MS else "✗"),
    }
