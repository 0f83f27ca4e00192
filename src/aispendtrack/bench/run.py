"""`python -m aispendtrack.bench`: proxy overhead benchmark, interleaved, with micro-costs.

Processes (all on 127.0.0.1, all stopped on exit, Ctrl-C and errors included):

- fake provider (``aispendtrack.bench.fake``), one process for every configuration
- ``bare``: mitmdump in reverse mode, no script
- ``bare-stream``: the same with ``stream_large_bodies=1`` (a streaming pass-through; plain
  mitmdump buffers SSE, so its TTFB equals the whole stream time): the fair baseline for
  streamed calls. Started only when streams are measured.
- ``addon``: mitmdump with the AiSpendTrack addon; two keys on one process:
  ``addon`` = enterprise account (no limits: no SQLite round trip), ``addon+limits`` =
  free tier with limits raised so they never trigger (check-and-count on every call)
- the load generator (``aispendtrack.bench.load``), its own process, driven by JSON lines

Every measurement cell (workload × concurrency × configuration) runs once per repeat,
configurations in a rotated order (round robin), so slow drift of a noisy machine hits
all of them alike; tables show medians over repeats and their min–max spread. Ratios are
paired per repeat (addon ÷ baseline measured seconds apart), then summarised.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import linecache
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aispendtrack

REPO = Path(aispendtrack.__file__).resolve().parents[2]
ENTRY = REPO / "addon" / "aispendtrack_addon.py"
BIN = Path(sys.executable).parent
MITMDUMP = BIN / "mitmdump"
CACHE = REPO / ".bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")

STREAM_DELAY = 0.02  # seconds between SSE events
STREAM_CHUNKS = 2  # text deltas: role + 2 deltas + finish + usage + [DONE] = 6 events, 5 gaps

TARGET_RPS_RATIO = 0.95
TARGET_ADDED_P50_MS = 0.3
TARGET_TTFB_DELTA_MS = 1.0

CONFIG_TEXT = """\
# bench: free tier with limits far above what a run can reach (limits checked, never hit)
[tiers.free]
requests_per_hour = 100000000
monthly_calls = 100000000
"""

WORKLOADS = {
    "json": {"stream": False, "configs": ["direct", "bare", "addon", "addon+limits"], "base": "bare"},
    "sse": {"stream": True, "configs": ["direct", "bare", "bare-stream", "addon", "addon+limits"],
            "base": "bare-stream"},
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- processes

def _pdeathsig() -> None:
    """Child side: get SIGTERM when the bench process dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path | None = None
    port: int | None = None
    _log: Any = None

    def cpu_seconds(self) -> float:
        """utime + stime of the process (all its threads)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            return float("nan")

    def output(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-4000:]
        return ""

    def stop(self, timeout: float = 15) -> None:
        p = self.proc
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGINT)  # mitmdump: orderly shutdown (ledger flushed)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for stream in (p.stdin, p.stdout):
            with contextlib.suppress(Exception):
                if stream:
                    stream.close()
        if self._log:
            self._log.close()
            self._log = None


class Children:
    def __init__(self) -> None:
        self.items: list[Child] = []

    def spawn(self, name: str, argv: list[str], *, log_path: Path | None = None, pipes: bool = False,
              port: int | None = None, cwd: Path | None = None) -> Child:
        env = {k: v for k, v in os.environ.items() if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
        env["PYTHONUNBUFFERED"] = "1"
        logf = open(log_path, "wb") if log_path else None
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else (logf or subprocess.DEVNULL),
            stderr=logf or None, env=env, cwd=str(cwd) if cwd else None,
            start_new_session=True,  # Ctrl-C reaches the bench only; it stops the children in order
            preexec_fn=_pdeathsig,
        )
        child = Child(name, proc, log_path, port, logf)
        self.items.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.items):
            with contextlib.suppress(Exception):
                child.stop()
        self.items.clear()


def wait_port(port: int, child: Child, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}:\n{child.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{child.name}: nothing listening on 127.0.0.1:{port}\n{child.output()}")


def read_line(child: Child, timeout: float) -> str:
    """One stdout line of a piped child, or an error after `timeout` seconds."""
    assert child.proc.stdout is not None
    fd = child.proc.stdout
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{child.name}: no answer within {timeout:.0f} s")
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            line = fd.readline()
            if not line:
                raise RuntimeError(f"{child.name} exited (code {child.proc.poll()})")
            return line.decode()
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited (code {child.proc.returncode})")


def mitmdump_argv(name: str, upstream: str, port: int, confdir: Path, *, addon: dict | None = None,
                  extra: list[str] | None = None) -> list[str]:
    argv = [str(MITMDUMP), "--listen-host", "127.0.0.1", "--mode", f"reverse:{upstream}@{port}",
            "--set", f"confdir={confdir}", "--set", "connection_strategy=lazy",
            "--set", "flow_detail=0", "--set", "termlog_verbosity=warn"]
    if addon:
        argv += ["-s", str(ENTRY), "--set", f"aispendtrack_config={addon['config']}",
                 "--set", f"aispendtrack_db={addon['db']}"]
    return argv + (extra or [])


# ----------------------------------------------------------------------------- setup

@dataclass
class Setup:
    tmp: Path
    children: Children
    fake: Child
    loadgen: Child
    proxies: dict[str, Child] = field(default_factory=dict)  # bare, bare-stream, addon
    keys: dict[str, Any] = field(default_factory=dict)  # config name → NewKey
    db_path: Path | None = None

    def port(self, config: str) -> int:
        if config == "direct":
            return self.fake.port  # type: ignore[return-value]
        return self.proxies["addon" if config.startswith("addon") else config].port  # type: ignore[return-value]

    def process_of(self, config: str) -> Child:
        if config == "direct":
            return self.fake
        return self.proxies["addon" if config.startswith("addon") else config]


def make_keys(db_path: Path, config_path: Path) -> dict:
    from aispendtrack import config as configmod
    from aispendtrack import db as dbmod
    from aispendtrack import keys, ledger_schema

    cfg = configmod.load_config(config_path)
    database = dbmod.connect(db_path)
    keys.ensure_schema(database)
    ledger_schema.ensure_schema(database)
    keys.create_account(database, "bench-enterprise", "enterprise")
    keys.create_account(database, "bench-free", "free")
    out = {
        "addon": keys.create_key(database, "bench-enterprise", cfg, name="bench"),
        "addon+limits": keys.create_key(database, "bench-free", cfg, name="bench"),
    }
    database.conn.close()
    return out


def start(tmp: Path, children: Children, *, want_stream: bool, addon_args: list[str] | None = None) -> Setup:
    py = sys.executable
    fake = children.spawn("fake provider", [py, "-m", "aispendtrack.bench.fake"], pipes=True)
    url = read_line(fake, 30).strip()
    fake.port = int(url.rsplit(":", 1)[1])
    loadgen = children.spawn("load generator", [py, "-m", "aispendtrack.bench.load"], pipes=True)
    setup = Setup(tmp, children, fake, loadgen)

    config_path = tmp / "mitm.toml"
    config_path.write_text(CONFIG_TEXT)
    setup.db_path = tmp / "bench.db"
    setup.keys = make_keys(setup.db_path, config_path)

    specs = {"bare": None, "addon": {"config": config_path, "db": setup.db_path}}
    if want_stream:
        specs["bare-stream"] = None
    for name, addon in specs.items():
        port = free_port()
        extra = ["--set", "stream_large_bodies=1"] if name == "bare-stream" else []
        if name == "addon":
            extra = list(addon_args or [])
        argv = mitmdump_argv(name, url, port, tmp / f"conf-{name}", addon=addon, extra=extra)
        setup.proxies[name] = children.spawn(f"mitmdump ({name})", argv, log_path=tmp / f"mitmdump-{name}.log",
                                             port=port, cwd=tmp)
    for child in setup.proxies.values():
        wait_port(child.port, child)  # type: ignore[arg-type]
    return setup


# ----------------------------------------------------------------------------- measuring

def run_cell(setup: Setup, *, config: str, stream: bool, concurrency: int, duration: float, warmup: float) -> dict:
    key = setup.keys[config].key if config in setup.keys else None
    cmd = {"port": setup.port(config), "config": config, "stream": stream, "concurrency": concurrency,
           "duration": duration, "warmup": warmup, "key": key, "stream_delay": STREAM_DELAY,
           "chunks": STREAM_CHUNKS}
    server = setup.process_of(config)
    watched = {"server": server, "loadgen": setup.loadgen, "fake": setup.fake}
    cpu0 = {k: c.cpu_seconds() for k, c in watched.items()}
    t0 = time.perf_counter()
    assert setup.loadgen.proc.stdin is not None
    setup.loadgen.proc.stdin.write((json.dumps(cmd) + "\n").encode())
    setup.loadgen.proc.stdin.flush()
    result = json.loads(read_line(setup.loadgen, warmup + duration + 90))
    wall = time.perf_counter() - t0
    if "fatal" in result:
        raise RuntimeError(f"load generator failed on {config}: {result['fatal']}")
    cpu = {k: c.cpu_seconds() - cpu0[k] for k, c in watched.items()}
    n = max(result["sent_total"], 1)
    result["wall"] = wall
    # CPU share of each process over the cell (1.0 = one full core); server CPU per request
    result["cpu_share"] = {k: v / wall for k, v in cpu.items()}
    result["server_cpu_us_per_req"] = cpu["server"] / n * 1e6 if config != "direct" else None
    return result


def median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def spread(values: list[float | None]) -> tuple[float, float] | None:
    vals = [v for v in values if v is not None]
    return (min(vals), max(vals)) if vals else None


def aggregate(cells: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for c in cells:
        groups.setdefault((c["workload"], c["concurrency"], c["config"]), []).append(c)
    out = []
    for (workload, conc, config), rs in groups.items():
        out.append({
            "workload": workload, "concurrency": conc, "config": config, "repeats": len(rs),
            "rps": median([r["rps"] for r in rs]), "rps_range": spread([r["rps"] for r in rs]),
            "p50_ms": median([r["p50_ms"] for r in rs]), "p50_range": spread([r["p50_ms"] for r in rs]),
            "p99_ms": median([r["p99_ms"] for r in rs]),
            "ttfb_p50_ms": median([r["ttfb_p50_ms"] for r in rs]),
            "ttfb_range": spread([r["ttfb_p50_ms"] for r in rs]),
            "first_event_before_end": min((r["first_event_before_end"] or 0.0) for r in rs),
            "server_cpu_us_per_req": median([r["server_cpu_us_per_req"] for r in rs]),
            "loadgen_cpu_share": median([r["cpu_share"]["loadgen"] for r in rs]),
            "ok": sum(r["ok"] for r in rs), "ok_total": sum(r["ok_total"] for r in rs),
            "errors": sum(r["errors"] for r in rs),
            "error_samples": [s for r in rs for s in r["error_samples"]][:5],
        })
    return out


def ratios(cells: list[dict]) -> list[dict]:
    """Paired per repeat: each addon variant against its workload's baseline (and limits on vs off)."""
    by = {(c["repeat"], c["workload"], c["concurrency"], c["config"]): c for c in cells}
    out = []
    pairs = [(w, spec["base"], v) for w, spec in WORKLOADS.items() for v in ("addon", "addon+limits")]
    pairs += [(w, "addon", "addon+limits") for w in WORKLOADS]
    keys = sorted({(c["workload"], c["concurrency"]) for c in cells}, key=lambda k: (list(WORKLOADS).index(k[0]), k[1]))
    repeats = sorted({c["repeat"] for c in cells})
    for workload, conc in keys:
        for w, base, variant in pairs:
            if w != workload:
                continue
            rps, dp50, dttfb, dcpu, cap = [], [], [], [], []
            for rep in repeats:
                b, v = by.get((rep, w, conc, base)), by.get((rep, w, conc, variant))
                if not b or not v or not b["ok"] or not v["ok"]:
                    continue
                rps.append(v["rps"] / b["rps"])
                dp50.append(v["p50_ms"] - b["p50_ms"])
                if WORKLOADS[w]["stream"]:
                    dttfb.append(v["ttfb_p50_ms"] - b["ttfb_p50_ms"])
                if v["server_cpu_us_per_req"] is not None and b["server_cpu_us_per_req"] is not None:
                    dcpu.append(v["server_cpu_us_per_req"] - b["server_cpu_us_per_req"])
                    cap.append(b["server_cpu_us_per_req"] / v["server_cpu_us_per_req"])
            if not rps:
                continue
            out.append({
                "workload": w, "concurrency": conc, "variant": variant, "base": base,
                "rps_ratio": median(rps), "rps_ratio_range": spread(rps),
                "added_p50_ms": median(dp50), "added_p50_range": spread(dp50),
                "ttfb_delta_ms": median(dttfb), "ttfb_delta_range": spread(dttfb),
                "added_cpu_us_per_req": median(dcpu),
                # a CPU-bound proxy's max throughput scales with 1 / CPU per request: less noisy than req/s
                "cpu_capacity_ratio": median(cap),
                "targets": base != "addon",
                "meets": {
                    "rps": median(rps) >= TARGET_RPS_RATIO,
                    "p50": median(dp50) <= TARGET_ADDED_P50_MS,
                    **({"ttfb": median(dttfb) <= TARGET_TTFB_DELTA_MS} if dttfb else {}),
                },
            })
    return out


def fake_stats(setup: Setup) -> dict:
    from aispendtrack.bench.fake import STATS_PATH

    with socket.create_connection(("127.0.0.1", setup.fake.port), timeout=5) as s:
        s.sendall(f"GET {STATS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def ledger_counts(setup: Setup) -> dict:
    import sqlite3

    conn = sqlite3.connect(f"file:{setup.db_path}?mode=ro", uri=True, timeout=10)
    try:
        out = {}
        for config, k in setup.keys.items():
            row = conn.execute(
                "SELECT COUNT(*), SUM(outcome = 'forwarded'), SUM(pricing = 'priced'), SUM(streamed), "
                "SUM(input_tokens IS NOT NULL) FROM calls WHERE key_id = ?", [k.id]).fetchone()
            out[config] = dict(zip(["rows", "forwarded", "priced", "streamed", "metered"], [v or 0 for v in row]))
        return out
    finally:
        conn.close()


def checks(setup: Setup, cells: list[dict]) -> dict:
    sent: dict[str, int] = {}
    streamed_sent: dict[str, int] = {}
    for c in cells:
        sent[c["config"]] = sent.get(c["config"], 0) + c["sent_total"]
        if c["stream"]:
            streamed_sent[c["config"]] = streamed_sent.get(c["config"], 0) + c["sent_total"]
    tally = fake_stats(setup)
    ledger = ledger_counts(setup)
    out: dict = {}
    for config, n in sent.items():
        t = tally.get(config, {"requests": 0, "with_key_header": 0})
        entry = {"requests_sent": n, "fake_received": t["requests"], "fake_saw_key_header": t["with_key_header"]}
        if config in ledger:
            entry.update({f"ledger_{k}": v for k, v in ledger[config].items()})
            entry["streamed_sent"] = streamed_sent.get(config, 0)
        ok = entry["fake_received"] == n and entry["fake_saw_key_header"] == 0
        if config in ledger:
            ok = ok and entry["ledger_rows"] == n and entry["ledger_forwarded"] == n
        entry["ok"] = ok
        out[config] = entry
    return out


# ----------------------------------------------------------------------------- profiling

PROFILE_RATE = 200  # samples per second


def profile_addon(setup: Setup, *, duration: float, concurrency: int) -> dict:
    """Drive the addon process (limits on) while py-spy samples it; returns the hotspots.

    py-spy attaches to the running mitmdump by pid (root, or ptrace permission, needed).
    Without py-spy, pyinstrument is not an option for an already running process: install
    py-spy (`.venv/bin/python -m pip install py-spy`).
    """
    child = setup.proxies["addon"]
    pyspy = shutil.which("py-spy") or (str(BIN / "py-spy") if (BIN / "py-spy").exists() else None)
    if not pyspy:
        return {"error": "py-spy not installed: .venv/bin/python -m pip install py-spy"}
    out: dict = {"tool": f"py-spy record --rate {PROFILE_RATE} --nonblocking (all threads; idle waits filtered out)"}
    for workload in ("json", "sse"):
        raw = setup.tmp / f"profile-{workload}.txt"
        rec = setup.children.spawn(
            f"py-spy ({workload})",
            [pyspy, "record", "--pid", str(child.proc.pid), "--format", "raw", "--rate", str(PROFILE_RATE),
             "--duration", str(int(duration) + 3), "--nonblocking", "--output", str(raw)],
            log_path=setup.tmp / f"py-spy-{workload}.log")
        time.sleep(1.0)  # attach
        r = run_cell(setup, config="addon+limits", stream=WORKLOADS[workload]["stream"], concurrency=concurrency,
                     duration=duration, warmup=0.2)
        try:
            rec.proc.wait(duration + 30)
        except subprocess.TimeoutExpired:
            rec.stop()
        if not raw.exists():
            out[workload] = {"error": f"py-spy wrote nothing:\n{rec.output()}"}
            continue
        out[workload] = summarise_collapsed(raw.read_text(), rate=PROFILE_RATE, requests=r["sent_total"])
        out[workload].update(raw_file=str(raw), concurrency=concurrency, rps=r["rps"],
                             server_cpu_us_per_req=r["server_cpu_us_per_req"])
    return out


_IDLE_LINE = re.compile(r"\.(get|wait|join|acquire|select|poll|recv|accept|read)\(|\bselect\(|\bsleep\(|\bwait\(")
_SRC_ROOTS = [REPO / "src", Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["stdlib"])]


def _split_frame(frame: str) -> tuple[str, str, int]:
    """py-spy raw frames look like "func (path/to/file.py:123)"."""
    name, _, loc = frame.partition(" (")
    path, _, line = loc.rstrip(")").rpartition(":")
    return name, path, int(line) if line.isdigit() else 0


def _frame_label(frame: str) -> str:
    name, path, _ = _split_frame(frame)
    for marker in ("/site-packages/", "/src/", "/lib/python3.12/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


@functools.lru_cache(maxsize=4096)
def _is_idle(frame: str) -> bool:
    """A leaf frame blocked in a wait (queue get, Condition.wait, epoll, ...): not CPU time.

    py-spy's own idle detection does not work in every container, so samples are judged
    by the source line the leaf frame stands on.
    """
    _, path, line = _split_frame(frame)
    for root in _SRC_ROOTS:
        candidate = root / path
        if candidate.exists():
            return bool(_IDLE_LINE.search(linecache.getline(str(candidate), line)))
    return False


def _thread_of(frames: list[str]) -> str:
    if not frames or not frames[0].startswith("Thread._bootstrap"):
        return "event loop (main thread)"
    for f in frames:
        name = _split_frame(f)[0]
        if not name.startswith("Thread.") and name != "Thread":
            return "thread: " + _frame_label(f)
    return "thread: ?"


def summarise_collapsed(text: str, *, rate: int, requests: int, top: int = 15) -> dict:
    """Busy (non-idle) samples from py-spy's collapsed stacks: per thread, self and inclusive.

    `us_per_req` converts samples to CPU-ish microseconds per request: samples / rate / requests.
    """
    selfc: dict[str, int] = {}
    incl: dict[str, int] = {}
    threads: dict[str, int] = {}
    total = idle = ours_main = main = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if _is_idle(frames[-1]):
            idle += n
            continue
        total += n
        thread = _thread_of(frames)
        threads[thread] = threads.get(thread, 0) + n
        leaf = _frame_label(frames[-1])
        selfc[leaf] = selfc.get(leaf, 0) + n
        seen = set()
        for f in frames:
            label = _frame_label(f)
            if label not in seen:
                seen.add(label)
                incl[label] = incl.get(label, 0) + n
        if thread.startswith("event loop"):
            main += n
            if any("aispendtrack/" in f for f in frames):
                ours_main += n

    def us(n: int) -> float:
        return round(n / rate / max(requests, 1) * 1e6, 1)

    def pct(n: int) -> float:
        return round(100.0 * n / total, 1) if total else 0.0

    top_self = sorted(selfc.items(), key=lambda kv: -kv[1])[:top]
    top_ours = sorted(((k, v) for k, v in incl.items() if "(aispendtrack/" in k), key=lambda kv: -kv[1])[:top]
    return {
        "requests": requests, "rate_hz": rate, "busy_samples": total, "idle_samples": idle,
        "busy_us_per_req": us(total), "event_loop_us_per_req": us(main),
        "event_loop_aispendtrack_us_per_req": us(ours_main),
        "event_loop_aispendtrack_pct": round(100.0 * ours_main / main, 1) if main else 0.0,
        "threads": {k: {"pct": pct(v), "us_per_req": us(v)} for k, v in sorted(threads.items(), key=lambda kv: -kv[1])[:6]},
        "top_self": [{"function": k, "pct": pct(v), "us_per_req": us(v)} for k, v in top_self],
        "top_aispendtrack_inclusive": [{"function": k, "pct": pct(v), "us_per_req": us(v)} for k, v in top_ours],
    }


# ----------------------------------------------------------------------------- output

def fmt(v: float | None, spec: str = ".1f") -> str:
    return "–" if v is None else format(v, spec)


def fmt_range(r: tuple[float, float] | None, spec: str = ".1f") -> str:
    return "–" if r is None else f"{format(r[0], spec)}–{format(r[1], spec)}"


def print_report(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=max(140, shutil.get_terminal_size((140, 40)).columns))
    m = data["machine"]
    s = data["settings"]
    con.print(f"[bold]AiSpendTrack proxy benchmark[/] — {m['cpus']} CPUs, Python {m['python']}, mitmproxy "
              f"{m['mitmproxy']}, load avg at start {m['loadavg_start']}")
    con.print(f"{s['repeats']} repeat(s) × {s['duration']} s per cell (+{s['warmup']} s warm-up), concurrency "
              f"{', '.join(map(str, s['concurrency']))}, round-robin; medians over repeats, \\[min–max] spread. "
              f"SSE: {STREAM_CHUNKS + 4} events, {STREAM_DELAY * 1000:.0f} ms apart, include_usage.")
    if s.get("addon_args"):
        con.print(f"[bold red]What-if run:[/] addon process started with extra arguments {s['addon_args']}")
    con.print("[yellow]Honest note:[/] load generator, fake provider and proxy are separate processes but share "
              f"the {m['cpus']} CPUs; the 'loadgen CPU' column shows how much of one core the load generator took. "
              "Throughput is therefore a lower bound for the proxy; 'proxy CPU/req' (user+sys of the proxy "
              "process ÷ requests) is the least noise-sensitive cost figure.")
    for workload, spec in WORKLOADS.items():
        rows = [r for r in data["scenarios"] if r["workload"] == workload]
        if not rows:
            continue
        title = "Non-streamed chat completion (small JSON)" if workload == "json" else "Streamed chat completion (SSE)"
        t = Table(title=title, title_justify="left")
        for col in ["config", "conc", "req/s", "\\[min–max]", "p50 ms", "\\[min–max]", "p99 ms"]:
            t.add_column(col, justify="left" if col == "config" else "right")
        if spec["stream"]:
            t.add_column("TTFB p50 ms", justify="right")
            t.add_column("streamed?", justify="center")
        for col in ["proxy CPU µs/req", "loadgen CPU", "ok", "errors"]:
            t.add_column(col, justify="right")
        for r in sorted(rows, key=lambda r: (r["concurrency"], spec["configs"].index(r["config"]))):
            cells = [r["config"], str(r["concurrency"]), fmt(r["rps"], ".0f"), fmt_range(r["rps_range"], ".0f"),
                     fmt(r["p50_ms"], ".2f"), fmt_range(r["p50_range"], ".2f"), fmt(r["p99_ms"], ".2f")]
            if spec["stream"]:
                fe = r["first_event_before_end"]
                streamed = "yes" if fe >= 0.99 else ("no (buffered)" if fe <= 0.01 else f"{fe:.0%}")
                cells += [fmt(r["ttfb_p50_ms"], ".2f"), streamed]
            cells += [fmt(r["server_cpu_us_per_req"], ".0f"), fmt(r["loadgen_cpu_share"], ".0%"),
                      str(r["ok_total"]), ("[red]" if r["errors"] else "") + str(r["errors"])]
            t.add_row(*cells)
        con.print(t)

    t = Table(title=f"Addon cost vs baseline (paired per repeat; targets: throughput ≥ {TARGET_RPS_RATIO}× bare, "
                    f"added p50 ≤ {TARGET_ADDED_P50_MS} ms, TTFB within {TARGET_TTFB_DELTA_MS} ms)",
              title_justify="left")
    for col in ["workload", "conc", "variant ÷ base", "throughput ×", "\\[min–max]", "added p50 ms", "\\[min–max]",
                "TTFB Δ ms", "added proxy CPU µs/req", "CPU capacity ×"]:
        t.add_column(col, justify="left" if col in ("workload", "variant ÷ base") else "right")

    def mark(ok: bool | None, text: str, targets: bool) -> str:
        if not targets or ok is None:
            return text
        return f"[green]{text} ✓[/]" if ok else f"[red]{text} ✗[/]"

    for r in data["ratios"]:
        tg = r["targets"]
        t.add_row(r["workload"], str(r["concurrency"]), f"{r['variant']} ÷ {r['base']}",
                  mark(r["meets"]["rps"], fmt(r["rps_ratio"], ".3f"), tg), fmt_range(r["rps_ratio_range"], ".2f"),
                  mark(r["meets"]["p50"], fmt(r["added_p50_ms"], "+.3f"), tg), fmt_range(r["added_p50_range"], "+.2f"),
                  mark(r["meets"].get("ttfb"), fmt(r["ttfb_delta_ms"], "+.3f"), tg) if r["ttfb_delta_ms"] is not None
                  else "–",
                  fmt(r["added_cpu_us_per_req"], "+.0f"),
                  mark(None if r["cpu_capacity_ratio"] is None else r["cpu_capacity_ratio"] >= TARGET_RPS_RATIO,
                       fmt(r["cpu_capacity_ratio"], ".2f"), tg))
    con.print(t)
    con.print("[dim]SSE base is 'bare-stream' (mitmdump with stream_large_bodies=1): plain mitmdump buffers SSE, so "
              "its TTFB is the whole stream. 'addon+limits ÷ addon' isolates the limiter (check-and-count per call). "
              "'CPU capacity ×' = base proxy CPU/req ÷ variant proxy CPU/req: the throughput ratio a CPU-bound proxy "
              "would reach on a quiet machine (less noisy than req/s when other processes compete for the CPUs).[/]")

    t = Table(title="Harness checks (every request went through auth, was forwarded and has a ledger row)",
              title_justify="left")
    for col in ["config", "sent", "fake received", "fake saw key header", "ledger rows", "priced", "metered", "ok"]:
        t.add_column(col, justify="left" if col == "config" else "right")
    for config, c in data["checks"].items():
        t.add_row(config, str(c["requests_sent"]), str(c["fake_received"]), str(c["fake_saw_key_header"]),
                  str(c.get("ledger_rows", "–")), str(c.get("ledger_priced", "–")), str(c.get("ledger_metered", "–")),
                  "[green]yes[/]" if c["ok"] else "[red]NO[/]")
    con.print(t)

    micro = data.get("micro")
    if micro:
        t = Table(title="Micro-costs per call (in-process, outside mitmproxy)", title_justify="left")
        t.add_column("what")
        t.add_column("cost", justify="right")
        t.add_column("detail")

        def row(label: str, entry: dict, unit: str = "us") -> None:
            if "skipped" in entry:
                t.add_row(label, "n/a", entry["skipped"])
            elif unit == "ms":
                t.add_row(label, f"{entry['ms']:.0f} ms", entry["detail"])
            else:
                t.add_row(label, f"{entry['us']:.1f} µs", entry["detail"])

        for label, key in [("limiter check-and-count, 1 process", "limiter_1proc"),
                           ("limiter check-and-count, 2 processes", "limiter_2proc"),
                           ("ledger write (awaited, 8 tasks)", "ledger_write")]:
            if key in micro:
                row(label, micro[key])
        met = micro.get("metering", {})
        for label, key in [("meter_body (non-streamed)", "body"), ("StreamMeter (whole SSE stream)", "stream"),
                           ("Pricer.price (cached model)", "price")]:
            if key in met:
                row(label, met[key])
        if "report" in micro:
            row("report(db) over generated ledger", micro["report"], "ms")
        con.print(t)

    prof = data.get("profile")
    if prof:
        if "error" in prof:
            con.print(f"[red]profile: {prof['error']}[/]")
        for workload in ("json", "sse"):
            p = prof.get(workload)
            if not p:
                continue
            if "error" in p:
                con.print(f"[red]profile {workload}: {p['error']}[/]")
                continue
            con.print(
                f"[bold]Profile: addon process (limits on), {workload}, c={p['concurrency']}[/] — {prof['tool']}; "
                f"{p['requests']} requests at {p['rps']:.0f} req/s (slowed by sampling); busy "
                f"{p['busy_us_per_req']:.0f} µs/req, of which event loop {p['event_loop_us_per_req']:.0f} µs/req, "
                f"{p['event_loop_aispendtrack_us_per_req']:.0f} µs/req ({p['event_loop_aispendtrack_pct']:.0f}%) inside "
                f"aispendtrack code. Threads: "
                + ", ".join(f"{k} {v['us_per_req']:.0f} µs/req" for k, v in p["threads"].items()))
            t = Table(show_header=True)
            t.add_column("µs/req", justify="right")
            t.add_column("self time (all code)")
            t.add_column("µs/req", justify="right")
            t.add_column("aispendtrack, inclusive")
            a, b = p["top_self"], p["top_aispendtrack_inclusive"]
            for i in range(max(len(a), len(b))):
                t.add_row(fmt(a[i]["us_per_req"]) if i < len(a) else "", a[i]["function"] if i < len(a) else "",
                          fmt(b[i]["us_per_req"]) if i < len(b) else "", b[i]["function"] if i < len(b) else "")
            con.print(t)
        con.print("[dim]µs/req = samples ÷ sampling rate ÷ requests, busy (non-waiting) samples only; "
                  "raw collapsed stacks are kept with --keep.[/]")


# ----------------------------------------------------------------------------- main

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
    for w in a.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}: json, sse")
    if not a.concurrency or min(a.concurrency) < 1 or max(a.concurrency) > 256:
        ap.error("--concurrency: levels between 1 and 256")
    if a.repeats < 1 or a.repeats > 100 or a.duration <= 0 or a.duration > 600:
        ap.error("--repeats 1..100, --duration 0..600")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    import mitmproxy.version

    data: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "mitmproxy": mitmproxy.version.VERSION, "loadavg_start": [round(x, 2) for x in os.getloadavg()],
                    "platform": platform.platform()},
        "settings": {"quick": a.quick, "duration": a.duration, "warmup": a.warmup, "repeats": a.repeats,
                     "concurrency": a.concurrency, "workloads": a.workloads, "stream_delay_s": STREAM_DELAY,
                     "stream_events": STREAM_CHUNKS + 4, "ledger_rows": a.ledger_rows, "addon_args": a.addon_arg},
        "targets": {"rps_ratio_min": TARGET_RPS_RATIO, "added_p50_ms_max": TARGET_ADDED_P50_MS,
                    "ttfb_delta_ms_max": TARGET_TTFB_DELTA_MS},
        "scenarios": [], "ratios": [], "checks": {}, "raw": [],
    }

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    tmp = Path(tempfile.mkdtemp(prefix="aispendtrack-bench-"))
    children = Children()
    t_begin = time.monotonic()
    try:
        if not a.no_load:
            want_stream = "sse" in a.workloads
            log(f"bench: starting fake provider, load generator and mitmdump processes in {tmp} …")
            setup = start(tmp, children, want_stream=want_stream, addon_args=a.addon_arg)
            cells: list[dict] = []
            plan = [(w, c) for w in a.workloads for c in a.concurrency]
            n_cells = a.repeats * sum(len(WORKLOADS[w]["configs"]) for w, _ in plan)
            done = 0
            for rep in range(a.repeats):
                for workload, conc in plan:
                    configs = WORKLOADS[workload]["configs"]
                    k = rep % len(configs)
                    for config in configs[k:] + configs[:k]:  # rotate the order each repeat
                        r = run_cell(setup, config=config, stream=WORKLOADS[workload]["stream"], concurrency=conc,
                                     duration=a.duration, warmup=a.warmup)
                        r.update(workload=workload, repeat=rep)
                        cells.append(r)
                        done += 1
                        log(f"  [{done}/{n_cells}] rep {rep + 1} {workload:4} c={conc:<3} {config:13} "
                            f"{r['rps']:8.1f} req/s  p50 {r['p50_ms'] or 0:7.2f} ms  ttfb {r['ttfb_p50_ms'] or 0:7.2f} ms"
                            f"  errors {r['errors']}")
            data["raw"] = cells
            data["scenarios"] = aggregate(cells)
            data["ratios"] = ratios(cells)
            data["checks"] = checks(setup, cells)
            if a.profile:
                log("bench: profiling the addon process …")
                data["profile"] = profile_addon(setup, duration=a.profile_duration, concurrency=max(a.concurrency))
            for name in ("addon", "bare", "bare-stream"):
                if name in setup.proxies:
                    data.setdefault("proxy_logs", {})[name] = setup.proxies[name].output()[-2000:]
            children.stop_all()
        if not a.no_micro:
            from aispendtrack.bench import micro

            data["micro"] = micro.run_all(quick=a.quick, cache_dir=CACHE, ledger_rows=a.ledger_rows, log=log)
        data["elapsed_s"] = round(time.monotonic() - t_begin, 1)
        print_report(data)
        log(f"bench: done in {data['elapsed_s']} s")
        if a.json_out:
            Path(a.json_out).write_text(json.dumps(data, indent=1, default=str))
        failed = [c for c, v in data["checks"].items() if not v["ok"]] + \
                 [f"{r['workload']}/{r['concurrency']}/{r['config']}" for r in data["scenarios"] if r["errors"]]
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
