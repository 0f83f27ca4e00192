"""``--profile``: py-spy samples the addon process under load; busy stacks summarised per request.

Only busy samples count: waits (epoll, queue get, Condition.wait) are judged by the
source line of the leaf frame, since py-spy's own idle detection fails in some containers.
"""

from __future__ import annotations

import functools
import linecache
import re
import shutil
import subprocess
import sysconfig
import time
from pathlib import Path

from aispendtrack_dev.bench.procs import BIN, REPO
from aispendtrack_dev.bench.scenarios import WORKLOADS, Setup, run_cell

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
