"""The tables of the optional parts: gateways on one store, admission costs, the baseline
commit, the account plane over a large ledger (the JSON holds the same numbers)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from aispendtrack_dev.bench.cells import _columns, fmt, fmt_range


def _errors(n: int) -> str:
    return ("[red]" if n else "") + str(n)


def _ok(ok: bool) -> str:
    return "[green]yes[/]" if ok else "[red]NO[/]"


def gateways_table(con: Console, gw: dict) -> None:
    t = Table(title=f"Gateways on one store: N mitmdumps with the addon (own confdirs), c={gw['concurrency_per_gateway']} "
                    "each, JSON, limits on (one free-tier team account, a key per gateway); N bare mitmdumps the "
                    "baseline; interleaved", title_justify="left")
    _columns(t, ["N", "store", "req/s (all)", "\\[min–max]", "× bare", "\\[min–max]", "p50 ms", "added p50",
                 "p99 ms", "added p99", "gateway CPU µs/req", "PostgreSQL CPU µs/req", "errors"], ("store",))
    for r in gw["rows"]:
        t.add_row(str(r["gateways"]), r["kind"], fmt(r["rps"], ".0f"), fmt_range(r["rps_range"], ".0f"),
                  fmt(r["rps_ratio"], ".2f"), fmt_range(r["rps_ratio_range"], ".2f"), fmt(r["p50_ms"], ".2f"),
                  fmt(r["added_p50_ms"], "+.2f"), fmt(r["p99_ms"], ".1f"), fmt(r["added_p99_ms"], "+.1f"),
                  fmt(r["server_cpu_us_per_req"], ".0f"), fmt(r["db_cpu_us_per_req"], ".0f"), _errors(r["errors"]))
    con.print(t)
    con.print(f"[dim]{gw['database']}. Gateways, bare mitmdumps, the fake provider, the load generator and "
              "PostgreSQL share the same CPUs: aggregate throughput is what this box gives, not what N machines "
              "would.[/]")
    for kind, c in gw["checks"].items():
        ledger = f", ledger rows {c['ledger_rows']} (forwarded {c['ledger_forwarded']}, priced {c['ledger_priced']})" \
            if "ledger_rows" in c else ""
        con.print(f"  check {kind}: sent {c['requests_sent']}, fake received {c['fake_received']}, key header "
                  f"upstream {c['fake_saw_key_header']}{ledger}: {_ok(c['ok'])}")


def admissions_table(con: Console, adm: dict) -> None:
    t = Table(title="Admission and ledger row costs per engine (in-process store calls); PostgreSQL admissions "
                    "durable vs fast (synchronous_commit off for the admission's transaction only)",
              title_justify="left")
    _columns(t, ["mode", "µs/admission (mean)", "p50 µs", "p99 µs", "one hot key: admissions/s", "µs/ledger row",
                 "rows per commit"], ("mode",))
    for mode, e in adm["modes"].items():
        a, h, r = e["admission"], e["hot_key"], e.get("ledger_row")
        t.add_row(mode, fmt(a["us"], ".0f"), fmt(a["p50_us"], ".0f"), fmt(a["p99_us"], ".0f"),
                  f"{h['per_s']:.0f} ({h['processes']} processes)", fmt(r["us"], ".0f") if r else "(as durable)",
                  fmt(r["mean_batch"], ".1f") if r else "–")
    con.print(t)
    con.print(f"[dim]{adm['database']}. µs/admission: store.admit from one process, its own key; hot key: that many "
              "processes admitting on ONE key of one account for a few seconds (every admission holds the key's and "
              "the account's locks until it commits); ledger row: StoreWriter.write awaited from 8 tasks.[/]")


def _mark(ok: bool | None, text: str) -> str:
    return text if ok is None else (f"[green]{text} ✓[/]" if ok else f"[red]{text} ✗[/]")


def plane_table(con: Console, pl: dict) -> None:
    from aispendtrack_dev.bench.plane import TARGET_FIRST_RENDER_MS, TARGET_P50_MS, TARGET_REPORT_S, TARGET_SHARE

    t = Table(title=f"Account plane over a {pl['rows']:,}-row ledger (account {pl['account']}: "
                    f"{pl['account_rows']:,} rows), c={pl['concurrency']}, next to a trivial FastAPI endpoint served the "
                    f"same way; targets ≥ {TARGET_SHARE:.0%} of trivial, p50 ≤ {TARGET_P50_MS:g} ms",
              title_justify="left")
    _columns(t, ["endpoint", "req/s", "\\[min–max]", "÷ trivial", "\\[min–max]", "p50 ms", "p99 ms", "ok", "errors"],
             ("endpoint",))
    for name, e in pl["endpoints"].items():
        meets = e.get("meets", {})
        t.add_row(name, fmt(e["rps"], ".0f"), fmt_range(e["rps_range"], ".0f"),
                  _mark(meets.get("share"), fmt(e.get("share"), ".2f")) if "share" in e else "–",
                  fmt_range(e.get("share_range"), ".2f"), _mark(meets.get("p50"), fmt(e["p50_ms"], ".2f")),
                  fmt(e["p99_ms"], ".2f"), str(e["ok"]), _errors(e["errors"]))
    con.print(t)
    rep = pl["report"]
    con.print(f"Dashboard first render (GET / after login): "
              f"{_mark(pl['first_render_ok'], f'{pl['first_render_ms']:.0f} ms')} (target < {TARGET_FIRST_RENDER_MS} "
              f"ms); serve start-up {pl['serve_startup_s']:.1f} s. report over the ledger: "
              + ", ".join(f"by {by} {_mark(r['ok'], f'{r['s'] * 1e3:.0f} ms')} (min {r['min_s'] * 1e3:.0f} ms, "
                          f"{r['groups']} groups, {r['calls']:,} calls)" for by, r in rep.items())
              + f" (target < {TARGET_REPORT_S:g} s)")
    con.print("[dim]trivial: `async def` returning a small JSON; trivial (def): the same as a plain `def`, run in "
              "FastAPI's thread pool as /v1/me and the dashboard are. /v1/me with the key's header, the dashboard "
              "with the login's session cookie; every answer a 200.[/]")


def print_parts(con: Console, data: dict) -> None:
    if data.get("gateways"):
        gateways_table(con, data["gateways"])
    if data.get("admissions"):
        admissions_table(con, data["admissions"])
    if data.get("plane"):
        plane_table(con, data["plane"])
