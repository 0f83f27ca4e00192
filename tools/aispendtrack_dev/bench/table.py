"""The rich tables printed at the end of a run (the JSON holds the same numbers)."""

from __future__ import annotations

import shutil

from rich.console import Console
from rich.table import Table

from aispendtrack_dev.bench.cells import _columns, fmt, fmt_range
from aispendtrack_dev.bench.scenarios import STREAM_CHUNKS, STREAM_DELAY, WORKLOADS, configs_of
from aispendtrack_dev.bench.table_parts import print_parts
from aispendtrack_dev.bench.stats import (TARGET_ADDED_P50_MS, TARGET_BUDGET_RATIO, TARGET_P50_CONCURRENCY,
                                          TARGET_RPS_RATIO, TARGET_TTFB_DELTA_MS)


def _mark(ok: bool | None, text: str, targets: bool) -> str:
    if not targets or ok is None:
        return text
    return f"[green]{text} ✓[/]" if ok else f"[red]{text} ✗[/]"


def _header(con: Console, data: dict) -> None:
    m = data["machine"]
    s = data["settings"]
    con.print(f"[bold]AiSpendTrack proxy benchmark[/] — {m['cpus']} CPUs, Python {m['python']}, mitmproxy "
              f"{m['mitmproxy']}, load avg at start {m['loadavg_start']}")
    con.print(f"{s['repeats']} repeat(s) × {s['duration']} s per cell (+{s['warmup']} s warm-up), concurrency "
              f"{', '.join(map(str, s['concurrency']))}, round-robin; medians over repeats, \\[min–max] spread. "
              f"SSE: {STREAM_CHUNKS + 4} events, {STREAM_DELAY * 1000:.0f} ms apart, include_usage.")
    if data.get("baseline"):
        con.print(f"[bold]Before/after:[/] 'base:…' configurations run commit {data['baseline']['describe']}, "
                  "interleaved with this tree's in the same schedule.")
    if s.get("addon_args"):
        con.print(f"[bold red]What-if run:[/] addon process started with extra arguments {s['addon_args']}")
    con.print("[yellow]Honest note:[/] load generator, fake provider and proxy are separate processes but share "
              f"the {m['cpus']} CPUs; the 'loadgen CPU' column shows how much of one core the load generator took. "
              "Throughput is therefore a lower bound for the proxy; 'proxy CPU/req' (user+sys of the proxy "
              "process ÷ requests) is the least noise-sensitive cost figure.")


def _scenario_row(r: dict, stream: bool) -> list[str]:
    cells = [r["config"], str(r["concurrency"]), fmt(r["rps"], ".0f"), fmt_range(r["rps_range"], ".0f"),
             fmt(r["p50_ms"], ".2f"), fmt_range(r["p50_range"], ".2f"), fmt(r["p99_ms"], ".2f")]
    if stream:
        fe = r["first_event_before_end"]
        streamed = "yes" if fe >= 0.99 else ("no (buffered)" if fe <= 0.01 else f"{fe:.0%}")
        cells += [fmt(r["ttfb_p50_ms"], ".2f"), streamed]
    return cells + [fmt(r["server_cpu_us_per_req"], ".0f"), fmt(r["loadgen_cpu_share"], ".0%"),
                    str(r["ok_total"]), ("[red]" if r["errors"] else "") + str(r["errors"])]


def _scenario_tables(con: Console, data: dict) -> None:
    for workload, spec in WORKLOADS.items():
        rows = [r for r in data["scenarios"] if r["workload"] == workload]
        if not rows:
            continue
        title = "Non-streamed chat completion (small JSON)" if workload == "json" else "Streamed chat completion (SSE)"
        t = Table(title=title, title_justify="left")
        _columns(t, ["config", "conc", "req/s", "\\[min–max]", "p50 ms", "\\[min–max]", "p99 ms"], ("config",))
        if spec["stream"]:
            t.add_column("TTFB p50 ms", justify="right")
            t.add_column("streamed?", justify="center")
        _columns(t, ["proxy CPU µs/req", "loadgen CPU", "ok", "errors"], ())
        order = configs_of(workload, baseline=True)
        for r in sorted(rows, key=lambda r: (r["concurrency"], order.index(r["config"]))):
            t.add_row(*_scenario_row(r, spec["stream"]))
        con.print(t)


def _ratio_table(con: Console, data: dict) -> None:
    t = Table(title=f"Addon cost vs baseline (paired per repeat; targets: throughput ≥ {TARGET_RPS_RATIO}× bare, "
                    f"added p50 ≤ {TARGET_ADDED_P50_MS} ms at c={TARGET_P50_CONCURRENCY}, TTFB within "
                    f"{TARGET_TTFB_DELTA_MS} ms, budget on ≥ {TARGET_BUDGET_RATIO}× limits on)",
              title_justify="left")
    _columns(t, ["workload", "conc", "variant ÷ base", "throughput ×", "\\[min–max]", "added p50 ms", "\\[min–max]",
                 "TTFB Δ ms", "added proxy CPU µs/req", "CPU capacity ×"], ("workload", "variant ÷ base"))
    t.columns[2].no_wrap = True
    for r in data["ratios"]:
        tg = r["targets"]
        t.add_row(r["workload"], str(r["concurrency"]), f"{r['variant']} ÷ {r['base']}",
                  _mark(r["meets"]["rps"], fmt(r["rps_ratio"], ".3f"), tg), fmt_range(r["rps_ratio_range"], ".2f"),
                  _mark(r["meets"]["p50"], fmt(r["added_p50_ms"], "+.3f"), tg), fmt_range(r["added_p50_range"], "+.2f"),
                  _mark(r["meets"].get("ttfb"), fmt(r["ttfb_delta_ms"], "+.3f"), tg) if r["ttfb_delta_ms"] is not None
                  else "–",
                  fmt(r["added_cpu_us_per_req"], "+.0f"),
                  _mark(None if r["cpu_capacity_ratio"] is None else r["cpu_capacity_ratio"] >= TARGET_RPS_RATIO,
                        fmt(r["cpu_capacity_ratio"], ".2f"), tg))
    con.print(t)
    con.print("[dim]SSE base is 'bare-stream' (mitmdump with stream_large_bodies=1): plain mitmdump buffers SSE, so "
              "its TTFB is the whole stream. 'addon+limits ÷ addon' isolates the limiter (check-and-count per call); "
              "'addon+budget ÷ addon+limits' the dollar budget (a reservation per call, settled with its ledger row). "
              "'CPU capacity ×' = base proxy CPU/req ÷ variant proxy CPU/req: the throughput ratio a CPU-bound proxy "
              "would reach on a quiet machine (less noisy than req/s when other processes compete for the CPUs).[/]")


def _serve_table(con: Console, sv: dict) -> None:
    t = Table(title=f"Account plane: a real `aispendtrack serve`, GET {sv['path']} from c={sv['concurrency']} "
                    f"clients; proxy ({sv['proxy_config']}, JSON, same c) with serve idle vs hammered",
              title_justify="left")
    _columns(t, ["what", "req/s", "p50 ms", "\\[min–max]", "p95 ms", "ok", "errors"], ("what",))
    for label, key in [(f"{sv['path']} (proxy idle)", "me"), (f"{sv['path']} (during proxy load)", "me_during_proxy"),
                       ("proxy, serve idle", "proxy_idle"), ("proxy, serve hammered", "proxy_loaded")]:
        r = sv[key]
        t.add_row(label, fmt(r["rps"], ".0f"), fmt(r["p50_ms"], ".2f"), fmt_range(r["p50_range"], ".2f"),
                  fmt(r["p95_ms"], ".2f"), str(r["ok"]), ("[red]" if r["errors"] else "") + str(r["errors"]))
    con.print(t)
    con.print(f"Proxy throughput, serve hammered ÷ serve idle (paired per repeat): "
              f"[bold]{fmt(sv['proxy_rps_ratio'], '.3f')}×[/] \\[{fmt_range(sv['proxy_rps_ratio_range'], '.2f')}]. "
              "[dim]On a 2-core box serve, its load generator, the proxy and its load generator share the CPUs, "
              "so this ratio is mostly CPU competition, not lock contention.[/]")


def _checks_table(con: Console, data: dict) -> None:
    t = Table(title="Harness checks (every request went through auth, was forwarded and has a ledger row)",
              title_justify="left")
    _columns(t, ["config", "sent", "fake received", "fake saw key header", "ledger rows", "priced", "metered", "ok"],
             ("config",))
    for config, c in data["checks"].items():
        t.add_row(config, str(c["requests_sent"]), str(c["fake_received"]), str(c["fake_saw_key_header"]),
                  str(c.get("ledger_rows", "–")), str(c.get("ledger_priced", "–")), str(c.get("ledger_metered", "–")),
                  "[green]yes[/]" if c["ok"] else "[red]NO[/]")
    con.print(t)


def _micro_row(t: Table, label: str, entry: dict, unit: str = "us") -> None:
    if "skipped" in entry:
        t.add_row(label, "n/a", entry["skipped"])
    elif unit == "ms":
        t.add_row(label, f"{entry['ms']:.0f} ms", entry["detail"])
    else:
        t.add_row(label, f"{entry['us']:.1f} µs", entry["detail"])


def _micro_table(con: Console, micro: dict) -> None:
    t = Table(title="Micro-costs per call (in-process, outside mitmproxy)", title_justify="left")
    t.add_column("what")
    t.add_column("cost", justify="right")
    t.add_column("detail")
    for label, key in [("limiter check-and-count, 1 process", "limiter_1proc"),
                       ("limiter check-and-count, 2 processes", "limiter_2proc"),
                       ("limiter check-and-count + budget reservation, 1 process", "limiter_budget_1proc"),
                       ("ledger write (awaited, 8 tasks)", "ledger_write")]:
        if key in micro:
            _micro_row(t, label, micro[key])
    met = micro.get("metering", {})
    for label, key in [("meter_body (non-streamed)", "body"), ("StreamMeter (whole SSE stream)", "stream"),
                       ("Pricer.price (cached model)", "price")]:
        if key in met:
            _micro_row(t, label, met[key])
    if "report" in micro:
        _micro_row(t, "report(db) over generated ledger", micro["report"], "ms")
    if "dashboard" in micro:
        _micro_row(t, "dashboard first render (serve, GET /)", micro["dashboard"], "ms")
    con.print(t)


def _profile_tables(con: Console, prof: dict) -> None:
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


def print_report(data: dict) -> None:
    # at least 140 columns: narrower terminals would wrap the tables into unreadable stacks
    con = Console(width=max(140, shutil.get_terminal_size((140, 40)).columns))
    _header(con, data)
    _scenario_tables(con, data)
    if data["ratios"]:
        _ratio_table(con, data)
    if data.get("serve"):
        _serve_table(con, data["serve"])
    if data.get("checks"):
        _checks_table(con, data)

    print_parts(con, data)
    if data.get("micro"):
        _micro_table(con, data["micro"])
    if data.get("profile"):
        _profile_tables(con, data["profile"])
