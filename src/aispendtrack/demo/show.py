"""What the demo prints around its steps: the proxy's session summary, the report, the verdict."""

from __future__ import annotations

import re
import signal
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aispendtrack.views import render
from aispendtrack.demo.checks import redact
from aispendtrack.demo.env import Demo
from aispendtrack.demo.steps import Steps
from aispendtrack.views.formats import fmt_int, fmt_usd, plural

if TYPE_CHECKING:
    from pathlib import Path

_NOISE = re.compile(r"(Traceback \(most recent|Exception in callback|Task exception was never retrieved)")


def make_console() -> Console:
    console = render.make_console()
    if not console.is_terminal:  # pipes and CI logs: no colour (rich), no narrow wrapping
        console = Console(file=sys.stdout, width=120, no_color=True, highlight=False, emoji=False)
    return console


def session_summary(output: str) -> str:
    """The session summary in mitmdump's output (rich panel or log lines), up to any traceback."""
    lines = output.splitlines()
    for i, ln in enumerate(lines):
        if "aispendtrack: this session" in ln or re.search(r"(^|\]\s*|:\s)session: \d", ln):
            start = i - 1 if "this session" in ln and i and lines[i - 1].lstrip().startswith("╭") else i
            end = next((j for j in range(start, len(lines)) if _NOISE.match(lines[j])), len(lines))
            return "\n".join(lines[start:end]).rstrip()
    return ""


def ledger_table(store) -> Table:
    table = Table("id", "provider", "api", "model", "status", "outcome", "in", "out", "cost", "pricing")
    for r in sorted(store.export_rows(), key=lambda r: r.id):
        table.add_row(str(r.id), r.provider or "", r.api or "", r.model or "", str(r.status), r.outcome,
                      fmt_int(r.input_tokens), fmt_int(r.output_tokens),
                      fmt_usd(r.cost_usd) if r.cost_usd is not None else (r.pricing or ""),
                      r.pricing or "")  # fmt: skip
    return table


def stop_proxy(d: Demo) -> None:
    d.clients.close()
    code = d.proxy.stop()
    d.proxy_output = redact(d.proxy.output())
    summary = session_summary(d.proxy_output)
    d.console.rule("proxy stopped (SIGINT): its session summary")
    if summary:
        d.console.print(escape(summary), soft_wrap=True)
    else:
        d.console.print("[dim](mitmdump printed no session summary)[/]")
    if code not in (0, None, -signal.SIGINT, 130):
        d.line(False, "proxy shutdown", f"mitmdump exited with {code}")


def show_report(d: Demo) -> None:
    console = d.console
    console.rule("aispendtrack report (demo database)")
    store = d.store
    try:
        from aispendtrack.views import report as reportmod

        rep = reportmod.report(store, by="model")
    except Exception as e:  # the report module is being finished elsewhere
        console.print(f"[yellow]report module unavailable ({escape(str(e))}); a plain ledger table:[/]")
        console.print(ledger_table(store))
        totals = None
    else:
        # the same rendering as `aispendtrack report`, by model and by key
        renderer = getattr(render, "render_report", None) or getattr(reportmod, "render_report", None)
        by_key = reportmod.report(store, by="key")
        hints = {k.id: k.hint for k in store.list_keys()}
        key_rows = [(f"{render.label(g.key)} {hints.get(g.key, '')}".rstrip(), g.stats) for g in by_key.groups]
        try:
            if renderer is None:
                raise LookupError("no render_report")
            console.print(renderer(rep))
            console.print()
            console.print(render.stats_table(key_rows, "key", title="by key"))
        except Exception as e:  # rendering is being finished elsewhere
            console.print(f"[yellow](report rendering unavailable: {escape(str(e))}; plain tables)[/]")
            console.print(render.totals_panel(rep.totals, "all demo calls"))
            rows = [(render.label(g.key), g.stats) for g in rep.groups]
            console.print(render.stats_table(rows, "model", title="by model"))
            console.print(render.stats_table(key_rows, "key", title="by key"))
        totals = rep.totals
    if totals is not None:
        check_totals(d, totals)


def check_totals(steps: Steps, t) -> None:
    text = (f"{plural(t.calls, 'call')}, {render.fmt_cost(t)} for {plural(t.priced_calls, 'priced call')}, "
            f"{t.unpriced_calls} unpriced, {t.rejected} rejected (401), {t.rate_limited} rate-limited (429)")  # fmt: skip
    ok = t.cost_usd > 0 and t.unpriced_calls >= 1 and t.rejected >= 2 and t.rate_limited >= 1
    steps.line(ok, "report totals", text)


def verdict(d: Demo, workdir: Path, kept: bool) -> int:
    """The closing line; 1 (with the proxy's last lines) if any step failed, else 0."""
    console = d.console
    failed = [r for r in d.results if not r.ok]
    console.print()
    if failed:
        console.print(f"[bold red]{len(failed)} of {len(d.results)} steps did not behave as expected:[/] "
                      + escape(", ".join(r.name for r in failed)))  # fmt: skip
        if d.proxy_output:
            tail = "\n".join(d.proxy_output.splitlines()[-25:])
            console.rule("mitmdump output (last lines)")
            console.print(escape(tail), soft_wrap=True)
        return 1
    console.print(f"[bold green]All {len(d.results)} steps behaved as expected.[/]"
                  + (f" Database and config kept in {workdir}." if kept else ""))  # fmt: skip
    return 0
