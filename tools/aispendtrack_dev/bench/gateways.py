"""``--gateways 1,2,4``: N gateways on one store, next to N bare mitmdumps, in one run.

A team's set-up: each gateway is a real mitmdump with the addon and its own confdir (as on
its own machine), all on ONE store, each driven at c=8 (JSON, limits on). Three fleets run
side by side, their cells interleaved round-robin:

- ``bare``: N plain mitmdumps (reverse mode, no script): the baseline;
- ``sqlite``: N gateways on one SQLite file;
- ``postgres``: N gateways on one PostgreSQL database (``pg.BenchPg``: fsync on, durable
  commits, each admission in its own transaction as the store does it).

The keys: one account on the free tier (one monthly quota shared by the whole team, so every
admission takes the account's lock), with limits far above what a run reaches and one key
per gateway (each developer's own). Per cell: aggregate throughput, p50/p99 over every
request, the gateways' CPU per request and, on PostgreSQL, the server's. Afterwards the fake
provider's tallies and the ledger of each store are compared with what was sent: every
request forwarded once, no key header upstream, one forwarded ledger row per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aispendtrack_dev.bench.checks import fake_stats_at, ledger_counts_at
from aispendtrack_dev.bench.pg import BenchPg
from aispendtrack_dev.bench.procs import Child, Children, free_port, mitmdump_argv, wait_port
from aispendtrack_dev.bench.scenarios import ask, start_driver
from aispendtrack_dev.bench.stats import median, spread

KINDS = ("bare", "sqlite", "postgres")
CONCURRENCY = 8  # per gateway
ACCOUNT = "bench-team"
CONFIG_TEXT = """\
# bench --gateways: one free-tier team account, a key per gateway, limits never reached
[tiers.free]
max_keys = "unlimited"
requests_per_hour = 100000000
monthly_calls = 100000000
"""


@dataclass
class Fleet:
    kind: str
    target: str | None  # the store the gateways share (None: bare mitmdump)
    procs: list[Child] = field(default_factory=list)
    keys: list = field(default_factory=list)  # NewKey per gateway


def _make_keys(target: str, config_path: Path, n: int) -> list:
    from aispendtrack import config as configmod
    from aispendtrack.store import open_store

    cfg = configmod.load_config(config_path)
    with open_store(target) as store:
        store.create_account(ACCOUNT, "free")
        return [store.create_key(ACCOUNT, cfg, name=f"gateway-{i}") for i in range(n)]


def start_fleets(tmp: Path, children: Children, url: str, n: int, pg: BenchPg) -> dict[str, Fleet]:
    config_path = tmp / "gateways.toml"
    config_path.write_text(CONFIG_TEXT)
    fleets = {"bare": Fleet("bare", None), "sqlite": Fleet("sqlite", str(tmp / "gateways.db")),
              "postgres": Fleet("postgres", pg.database())}
    for fleet in fleets.values():
        if fleet.target:
            fleet.keys = _make_keys(fleet.target, config_path, n)
        for i in range(n):
            port = free_port()
            addon = {"config": config_path, "db": fleet.target} if fleet.target else None
            name = f"gw-{fleet.kind}-{i}"
            argv = mitmdump_argv(name, url, port, tmp / f"conf-{name}", addon=addon)
            fleet.procs.append(children.spawn(f"mitmdump ({name})", argv, log_path=tmp / f"mitmdump-{name}.log",
                                              port=port, cwd=tmp))
    for fleet in fleets.values():
        for child in fleet.procs:
            wait_port(child.port, child, timeout=60)  # type: ignore[arg-type]
    return fleets


def run_cell(fleet: Fleet, n: int, loadgen: Child, pg: BenchPg, *, duration: float, warmup: float) -> dict:
    procs = fleet.procs[:n]
    targets = [{"port": p.port, "key": fleet.keys[i].key if fleet.keys else None, "config": f"gw-{fleet.kind}"}
               for i, p in enumerate(procs)]
    cmd = {"targets": targets, "config": f"gw-{fleet.kind}", "stream": False, "concurrency": CONCURRENCY,
           "duration": duration, "warmup": warmup}
    cpu0, db0 = sum(p.cpu_seconds() for p in procs), pg.cpu_seconds()
    t0 = time.perf_counter()
    result = ask(loadgen, cmd, warmup + duration + 90)
    wall = time.perf_counter() - t0
    sent = max(result["sent_total"], 1)
    result.update(kind=fleet.kind, gateways=n, wall=wall,
                  server_cpu_us_per_req=(sum(p.cpu_seconds() for p in procs) - cpu0) / sent * 1e6,
                  db_cpu_us_per_req=(pg.cpu_seconds() - db0) / sent * 1e6 if fleet.kind == "postgres" else None)
    return result


def measure_gateways(tmp: Path, children: Children, pg: BenchPg, *, counts: list[int], repeats: int,
                     duration: float, warmup: float, log: Callable[[str], None]) -> dict:
    fake, loadgen, url = start_driver(children)
    log(f"gateways: starting {max(counts)} bare mitmdumps and {max(counts)} gateways on SQLite and on PostgreSQL …")
    fleets = start_fleets(tmp, children, url, max(counts), pg)
    # every gateway's first calls (key cache, prices, connections) before anything is measured;
    # their requests count in the checks, not in the figures
    cells = [dict(run_cell(fleet, max(counts), loadgen, pg, duration=0.3, warmup=0.2), repeat=-1)
             for fleet in fleets.values()]
    plan = [(rep, n, kind) for rep in range(repeats) for n in counts
            for kind in KINDS[rep % 3:] + KINDS[:rep % 3]]
    for done, (rep, n, kind) in enumerate(plan, 1):
        r = run_cell(fleets[kind], n, loadgen, pg, duration=duration, warmup=warmup)
        r["repeat"] = rep
        cells.append(r)
        log(f"  [{done}/{len(plan)}] rep {rep + 1} gateways={n} {kind:8} {r['rps']:8.1f} req/s  "
            f"p50 {r['p50_ms'] or 0:7.2f} ms  p99 {r['p99_ms'] or 0:7.2f} ms  errors {r['errors']}")
    out = {"concurrency_per_gateway": CONCURRENCY, "counts": counts, "database": pg.describe(),
           "rows": summarise([c for c in cells if c["repeat"] >= 0]), "checks": check(fleets, cells, fake.port)}
    for fleet in fleets.values():
        for child in fleet.procs:
            child.stop()
    fake.stop()
    loadgen.stop()
    out["raw"] = cells
    return out


def summarise(cells: list[dict]) -> list[dict]:
    """Per (N, kind): medians over repeats; against bare (paired per repeat): throughput ×,
    added p50 and p99."""
    by = {(c["repeat"], c["gateways"], c["kind"]): c for c in cells}
    out = []
    for n in sorted({c["gateways"] for c in cells}):
        for kind in KINDS:
            rs = [c for c in cells if c["gateways"] == n and c["kind"] == kind]
            pairs = [(c, by.get((c["repeat"], n, "bare"))) for c in rs]
            pairs = [(c, b) for c, b in pairs if b and b["ok"] and c["ok"]]
            ratio = [c["rps"] / b["rps"] for c, b in pairs]
            out.append({
                "gateways": n, "kind": kind, "repeats": len(rs),
                "rps": median([c["rps"] for c in rs]), "rps_range": spread([c["rps"] for c in rs]),
                "p50_ms": median([c["p50_ms"] for c in rs]), "p99_ms": median([c["p99_ms"] for c in rs]),
                "server_cpu_us_per_req": median([c["server_cpu_us_per_req"] for c in rs]),
                "db_cpu_us_per_req": median([c["db_cpu_us_per_req"] for c in rs]),
                "rps_ratio": median(ratio) if kind != "bare" else None, "rps_ratio_range": spread(ratio),
                "added_p50_ms": median([c["p50_ms"] - b["p50_ms"] for c, b in pairs]) if kind != "bare" else None,
                "added_p99_ms": median([c["p99_ms"] - b["p99_ms"] for c, b in pairs]) if kind != "bare" else None,
                "ok": sum(c["ok"] for c in rs), "errors": sum(c["errors"] for c in rs),
                "error_samples": [s for c in rs for s in c["error_samples"]][:5],
            })
    return out


def check(fleets: dict[str, Fleet], cells: list[dict], fake_port: int) -> dict:
    """Per fleet: sent (per gateway's key) = received by the fake = forwarded ledger rows."""
    tally = fake_stats_at(fake_port)
    out = {}
    for kind, fleet in fleets.items():
        sent = [0] * len(fleet.procs)
        for c in cells:
            if c["kind"] == kind:
                for i, t in enumerate(c["per_target"]):
                    sent[i] += t["sent_total"]
        got = tally.get(f"gw-{kind}", {"requests": 0, "with_key_header": 0})
        entry = {"requests_sent": sum(sent), "fake_received": got["requests"],
                 "fake_saw_key_header": got["with_key_header"]}
        ok = entry["fake_received"] == entry["requests_sent"] and entry["fake_saw_key_header"] == 0
        if fleet.target:
            ledger = ledger_counts_at(fleet.target, {str(i): k.id for i, k in enumerate(fleet.keys)})
            entry["ledger_rows"] = sum(v["rows"] for v in ledger.values())
            entry["ledger_forwarded"] = sum(v["forwarded"] for v in ledger.values())
            entry["ledger_priced"] = sum(v["priced"] for v in ledger.values())
            # each gateway's own key: its rows match what was sent through that gateway
            ok = ok and all(ledger[str(i)]["rows"] == ledger[str(i)]["forwarded"] == s for i, s in enumerate(sent))
        entry["ok"] = ok
        out[kind] = entry
    return out
