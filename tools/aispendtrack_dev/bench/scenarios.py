"""What is measured: the configurations, their processes, and the round-robin schedule.

Processes (all on 127.0.0.1, all stopped on exit, Ctrl-C and errors included):

- fake provider (``aispendtrack_dev.bench.fake``), one process for every configuration
- ``bare``: mitmdump in reverse mode, no script
- ``bare-stream``: the same with ``stream_large_bodies=1`` (a streaming pass-through; plain
  mitmdump buffers SSE, so its TTFB equals the whole stream time): the fair baseline for
  streamed calls. Started only when streams are measured.
- ``addon``: mitmdump with the AiSpendTrack addon; two keys on one process:
  ``addon`` = enterprise account (no limits: no SQLite round trip), ``addon+limits`` =
  free tier with limits raised so they never trigger (check-and-count on every call),
  ``addon+budget`` = the same tier on an account with a dollar budget too large ever to
  refuse (check-and-count plus a budget reservation and its settlement on every call)
- ``base:addon`` (``--baseline REV``): the same three keys' configurations on another
  commit's addon (``baseline.py``), its own database; cells ``base:addon``, ``base:addon+limits``,
  ``base:addon+budget`` in the same schedule
- the load generator (``aispendtrack_dev.bench.load``), its own process, driven by JSON lines

Every measurement cell (workload × concurrency × configuration) runs once per repeat,
configurations in a rotated order (round robin), so slow drift of a noisy machine hits
all of them alike.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aispendtrack_dev.bench.baseline import BASE_PREFIX
from aispendtrack_dev.bench.baseline import make_keys as make_base_keys
from aispendtrack_dev.bench.procs import Child, Children, free_port, mitmdump_argv, read_line, wait_port

STREAM_DELAY = 0.02  # seconds between SSE events
STREAM_CHUNKS = 2  # text deltas: role + 2 deltas + finish + usage + [DONE] = 6 events, 5 gaps

CONFIG_TEXT = """\
# bench: free tier with limits far above what a run can reach (limits checked, never hit)
[tiers.free]
requests_per_hour = 100000000
monthly_calls = 100000000
"""

SERVE_KEY = "serve"  # the key GET /v1/me is asked with; not a proxy configuration

WORKLOADS = {
    "json": {"stream": False, "configs": ["direct", "bare", "addon", "addon+limits", "addon+budget"],
             "base": "bare"},
    "sse": {"stream": True, "configs": ["direct", "bare", "bare-stream", "addon", "addon+limits", "addon+budget"],
            "base": "bare-stream"},
}


@dataclass
class Setup:
    tmp: Path
    children: Children
    fake: Child
    loadgen: Child
    proxies: dict[str, Child] = field(default_factory=dict)  # bare, bare-stream, addon, base:addon
    keys: dict[str, Any] = field(default_factory=dict)  # config name → NewKey (BaseKey for base:…)
    db_path: Path | None = None
    base_db: Path | None = None  # --baseline: the other commit's database

    def port(self, config: str) -> int:
        return self.process_of(config).port  # type: ignore[return-value]

    def process_of(self, config: str) -> Child:
        if config == "direct":
            return self.fake
        # the addon configurations of one tree share one process: they differ by key only
        if config.startswith(BASE_PREFIX):
            return self.proxies[BASE_PREFIX + "addon"]
        return self.proxies["addon" if config.startswith("addon") else config]


def configs_of(workload: str, baseline: bool = False) -> list[str]:
    """The workload's configurations; with a baseline, its addon configurations too."""
    configs = WORKLOADS[workload]["configs"]
    return configs + [BASE_PREFIX + c for c in configs if c.startswith("addon")] if baseline else configs


def make_keys(db_path: Path, config_path: Path) -> dict:
    from aispendtrack import config as configmod
    from aispendtrack.store import open_store

    cfg = configmod.load_config(config_path)
    with open_store(db_path) as store:  # closed before the proxies start: they hold the file
        store.create_account("bench-enterprise", "enterprise")
        store.create_account("bench-free", "free")
        store.create_account("bench-budget", "free")
        store.set_budget("account", "bench-budget", "1000000", "month", now=time.time())
        return {
            "addon": store.create_key("bench-enterprise", cfg, name="bench"),
            "addon+limits": store.create_key("bench-free", cfg, name="bench"),
            "addon+budget": store.create_key("bench-budget", cfg, name="bench"),
            SERVE_KEY: store.create_key("bench-enterprise", cfg, name="bench-serve"),
        }


def start_driver(children: Children) -> tuple[Child, Child, str]:
    """The fake provider and the load generator (their own processes); the fake's URL."""
    py = sys.executable
    fake = children.spawn("fake provider", [py, "-m", "aispendtrack_dev.bench.fake"], pipes=True)
    url = read_line(fake, 30).strip()
    fake.port = int(url.rsplit(":", 1)[1])
    loadgen = children.spawn("load generator", [py, "-m", "aispendtrack_dev.bench.load"], pipes=True)
    return fake, loadgen, url


def ask(loadgen: Child, cmd: dict, timeout: float) -> dict:
    """One command to the load generator, its answer (an error if it failed)."""
    assert loadgen.proc.stdin is not None
    loadgen.proc.stdin.write((json.dumps(cmd) + "\n").encode())
    loadgen.proc.stdin.flush()
    result = json.loads(read_line(loadgen, timeout))
    if "fatal" in result:
        raise RuntimeError(f"load generator failed on {cmd.get('config')}: {result['fatal']}")
    return result


def start(tmp: Path, children: Children, *, want_stream: bool, addon_args: list[str] | None = None,
          baseline=None) -> Setup:
    """`baseline` (`baseline.Baseline`): the other commit's addon too, on its own database."""
    fake, loadgen, url = start_driver(children)
    setup = Setup(tmp, children, fake, loadgen)

    config_path = tmp / "mitm.toml"
    config_path.write_text(CONFIG_TEXT)
    setup.db_path = tmp / "bench.db"
    setup.keys = make_keys(setup.db_path, config_path)

    specs = {"bare": None, "addon": {"config": config_path, "db": setup.db_path}}
    if baseline is not None:

        setup.base_db = tmp / "baseline.db"
        setup.keys |= make_base_keys(baseline, setup.base_db, config_path)
        specs[BASE_PREFIX + "addon"] = {"config": config_path, "db": setup.base_db, "entry": baseline.entry,
                                        "mitmdump": baseline.mitmdump}
    if want_stream:
        specs["bare-stream"] = None
    for name, addon in specs.items():
        port = free_port()
        extra = ["--set", "stream_large_bodies=1"] if name == "bare-stream" else []
        if name.endswith("addon"):  # the same what-if arguments for both trees
            extra = list(addon_args or [])
        slug = name.replace(":", "-")
        argv = mitmdump_argv(name, url, port, tmp / f"conf-{slug}", addon=addon, extra=extra)
        setup.proxies[name] = children.spawn(f"mitmdump ({name})", argv, log_path=tmp / f"mitmdump-{slug}.log",
                                             port=port, cwd=tmp)
    for child in setup.proxies.values():
        wait_port(child.port, child)  # type: ignore[arg-type]
    return setup


def run_cell(setup: Setup, *, config: str, stream: bool, concurrency: int, duration: float, warmup: float) -> dict:
    key = setup.keys[config].key if config in setup.keys else None
    cmd = {"port": setup.port(config), "config": config, "stream": stream, "concurrency": concurrency,
           "duration": duration, "warmup": warmup, "key": key, "stream_delay": STREAM_DELAY,
           "chunks": STREAM_CHUNKS}
    server = setup.process_of(config)
    watched = {"server": server, "loadgen": setup.loadgen, "fake": setup.fake}
    cpu0 = {k: c.cpu_seconds() for k, c in watched.items()}
    t0 = time.perf_counter()
    result = ask(setup.loadgen, cmd, warmup + duration + 90)
    wall = time.perf_counter() - t0
    cpu = {k: c.cpu_seconds() - cpu0[k] for k, c in watched.items()}
    n = max(result["sent_total"], 1)
    result["wall"] = wall
    # CPU share of each process over the cell (1.0 = one full core); server CPU per request
    result["cpu_share"] = {k: v / wall for k, v in cpu.items()}
    result["server_cpu_us_per_req"] = cpu["server"] / n * 1e6 if config != "direct" else None
    return result


def schedule(workloads: list[str], concurrency: list[int], repeats: int,
             baseline: bool = False) -> list[tuple[int, str, int, str]]:
    """(repeat, workload, concurrency, config) in run order; configurations rotate by one each repeat."""
    plan = []
    for rep in range(repeats):
        for workload in workloads:
            for conc in concurrency:
                configs = configs_of(workload, baseline)
                k = rep % len(configs)
                plan += [(rep, workload, conc, config) for config in configs[k:] + configs[:k]]
    return plan


def measure_all(setup: Setup, *, workloads: list[str], concurrency: list[int], repeats: int, duration: float,
                warmup: float, log: Callable[[str], None]) -> list[dict]:
    """Every cell of the schedule, one progress line each; the raw per-repeat results."""
    plan = schedule(workloads, concurrency, repeats, baseline=BASE_PREFIX + "addon" in setup.proxies)
    cells: list[dict] = []
    for done, (rep, workload, conc, config) in enumerate(plan, 1):
        r = run_cell(setup, config=config, stream=WORKLOADS[workload]["stream"], concurrency=conc,
                     duration=duration, warmup=warmup)
        r.update(workload=workload, repeat=rep)
        cells.append(r)
        log(f"  [{done}/{len(plan)}] rep {rep + 1} {workload:4} c={conc:<3} {config:18} "
            f"{r['rps']:8.1f} req/s  p50 {r['p50_ms'] or 0:7.2f} ms  ttfb {r['ttfb_p50_ms'] or 0:7.2f} ms"
            f"  errors {r['errors']}")
    return cells
