"""`aispendtrack top`: a live view of the ledger while the proxy runs in another terminal.

One frame = calls in the last minute (the ledger only holds finished calls; running proxies
publish their calls in flight, `store.inflight`), the keys nearest to their limits, the
budgets, spend per minute (last N minutes) and the latest calls — in that order, so a
small terminal (80×24) keeps the limits and budgets and shortens the chart.
`render_top(store, now)` builds a frame without a terminal; the command refreshes it with
`rich.live.Live`, quits on `q` or Ctrl-C, and prints a single frame when stdout is not a TTY.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import select
import sys
import time as _time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from aispendtrack.store.db import utcnow
from aispendtrack.store.records import StoreGone
from aispendtrack.store.ledger_schema import UPSTREAM, Outcome
from aispendtrack.store.reads.legacy import as_store
from aispendtrack.views import lists, render
from aispendtrack.views.budgets import budget_entries
from aispendtrack.views.lists import budgets_table
from aispendtrack.views.formats import DASH, fmt_clock, fmt_duration, fmt_tokens, fmt_usd, plural
from aispendtrack.views.opening import open_existing
from aispendtrack.views.tables import AtWidth
from aispendtrack.views.report import limits_status, report


def inflight_count(store, now: datetime | None = None) -> int | None:
    """Calls in flight across the proxies running on this database (None: none running)."""
    return store.inflight((now or utcnow()).timestamp())


def _minutes(store, now: datetime, minutes: int) -> list[tuple[str, Decimal]]:
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    rep = report(store, since=start, until=now + timedelta(seconds=1), by="minute")
    cost = {g.key: g.stats.cost_usd for g in rep.groups}
    labels = [start + timedelta(minutes=i) for i in range(minutes)]
    return [(t.strftime("%H:%M"), cost.get(t.strftime("%Y-%m-%dT%H:%M"), Decimal(0))) for t in labels]


def _latest(calls: list, names: dict[str, str]) -> RenderableType:
    records = []
    for c in calls:
        pricing = c.pricing
        cost_text = render.LOCAL_COST if pricing == "local" else \
            fmt_usd(c.cost_usd, none=pricing if pricing in ("unpriced", "unmetered") else DASH)
        style = None if c.outcome == Outcome.FORWARDED else "red" if c.outcome in UPSTREAM else "yellow"
        key = render.clean(names.get(c.key_id) or c.key_id) if c.key_id else \
            (f"…{render.clean(c.key_hint)}" if c.key_hint else DASH)
        model = render.clean(c.model) if c.model else "(none)"
        records.append({
            "time": fmt_clock(c.ts), "key": key, "model": model, "in": fmt_tokens(c.input_tokens),
            "out": fmt_tokens(c.output_tokens), "cost": cost_text, "status": DASH if c.status is None else str(c.status),
            "outcome": Text(render.clean(c.outcome or ""), style=style or ""), "key / model": f"{key}\n{model}",
        })  # fmt: skip
    return lists.table(records, [
        ["time", "key", "model", "in", "out", "cost", "status", "outcome"],
        ["time", "key", "model", "in", "out", "cost", "outcome"],
        ["time", "key / model", "in", "out", "cost", "outcome"],
    ], title="latest calls", right={"in", "out", "cost", "status"})


def _limits(store, config, now: datetime, n: int) -> RenderableType:
    statuses = [s for s in limits_status(store, config, now) if s.limit is not None][:n]
    if not statuses:
        return Text("limits: none set (or no keys yet)", style="dim")
    records = []
    for s in statuses:
        frac = s.fraction or 0.0
        style = "red" if frac >= 0.9 else "yellow" if frac >= 0.7 else "green"
        name = f"{s.scope} {render.clean(s.name or s.id)}"
        records.append({
            "who": name + (f" ({render.clean(s.id)})" if s.scope == "key" and s.name else ""), "name": name,
            "window": s.window, "used": f"{s.used:,}", "limit": f"{s.limit:,}",
            "": Text(render.bar(frac, 1, 20).ljust(20, "·"), style=style),
            " ": Text(render.bar(frac, 1, 10).ljust(10, "·"), style=style),
            "resets in": fmt_duration((s.resets_at - now).total_seconds()) if s.resets_at else DASH,
        })  # fmt: skip
    table = lists.table(records, [["who", "window", "used", "limit", "", "resets in"],
                                  ["name", "window", "used", "limit", " ", "resets in"]],
                        title="nearest to their limits", right={"used", "limit", "resets in"})
    if statuses[0].source == "ledger":
        return Group(table, Text("estimated from the ledger (no limit counters in this database)", style="dim"))
    return table


def render_top(store, now: datetime | None = None, *, config=None, minutes: int = 15, latest: int = 10,
               height: int | None = None) -> RenderableType:
    """One frame of `aispendtrack top` for the ledger in `store` at `now` (UTC). With a
    `height` (a terminal's lines), the chart and the latest calls give up lines first, so the
    limits and budgets stay on screen."""
    store = as_store(store)
    now = (now or utcnow()).astimezone(UTC)
    last_minute = store.count_calls(now - timedelta(minutes=1), now)
    flying = inflight_count(store, now)
    head = Text.assemble(
        ("aispendtrack top", "bold"), f"  {now:%Y-%m-%d %H:%M:%S} UTC  ",
        (f"{flying:,} in flight  " if flying is not None else "", "bold"),
        f"{plural(last_minute, 'call')} in the last minute" + ("" if flying is not None else " (no proxy running on this database)"),
    )  # fmt: skip
    n_limits = 5 if height is None or height >= 40 else 3
    entries = budget_entries(store, config, now.timestamp()) if config is not None else []
    top = [head, Text(""), _limits(store, config, now, n_limits)]
    if (budgets := budgets_table(entries[:None if height is None or height >= 40 else 3])) is not None:
        top += [Text(""), budgets]
    series = _minutes(store, now, minutes)
    calls = store.latest_calls(latest)
    names = {k.id: k.name for k in store.list_keys() if k.name}

    def frame(m: int, n: int) -> list[RenderableType]:
        """The frame with `m` minutes of chart (none for 0) and `n` latest calls (none for 0)."""
        parts = list(top)
        if m:
            total = sum((v for _, v in series[-m:]), Decimal(0))
            parts += [Text(""), render.spend_bars(series[-m:], width=30,
                                                  title=f"spend per minute, last {m} min: {fmt_usd(total)}")]
        if n:
            parts += [Text(""), _latest(calls[:n], names)]
        return parts

    if height is None:
        return Group(*frame(minutes, latest))

    def fit(width: int) -> RenderableType:
        """The latest calls, then the chart, shortened (to nothing if need be) until the frame
        fits `height` lines at `width`: the limits and budgets stay."""
        lines = Console(width=width, file=io.StringIO(), color_system=None)

        def size(m: int, n: int) -> int:
            return len(lines.render_lines(Group(*frame(m, n)), lines.options, pad=False))

        least = min(3, minutes)
        n = len(calls)
        while n and size(least, n) > height:
            n -= 1
        m = minutes
        while m > least and size(m, n) > height:
            m -= 1
        return Group(*frame(m if size(m, n) <= height else 0, n))

    return AtWidth(fit)


@contextlib.contextmanager
def _keys() -> Iterator:
    """Yields wait(timeout) -> key pressed or None. cbreak mode on a TTY stdin, restored after."""
    if not sys.stdin.isatty():
        yield lambda timeout: _time.sleep(timeout)
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)

        def wait(timeout: float) -> str | None:
            ready, _, _ = select.select([fd], [], [], timeout)
            return os.read(fd, 1).decode(errors="ignore") if ready else None

        yield wait
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _finite(value: float, param: click.Parameter) -> float:
    if not math.isfinite(value):  # NaN passes FloatRange's comparisons
        raise click.BadParameter(f"{value!r} is not a number of seconds", param=param)
    return value


@click.command("top")
@click.option("--interval", type=click.FloatRange(min=0.1, max=3600), default=1.0, show_default=True,
              callback=lambda ctx, param, v: _finite(v, param), help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Print one frame and exit (automatic when stdout is not a terminal).")
def top_command(interval: float, once: bool) -> None:
    """Live spend, latest calls and keys near their limits; q or Ctrl-C quits."""
    obj = click.get_current_context().obj or {}
    store = open_existing(obj["db_path"])
    config = None
    with contextlib.suppress(Exception):
        from aispendtrack.config import load_config

        config = load_config(obj.get("config_path"))
    console = render.make_console()
    with store:
        if once or not console.is_terminal:  # LINES (or a terminal) gives a height to fit
            height = console.height if console.is_terminal or os.environ.get("LINES") else None
            console.print(render_top(store, config=config, height=height))
            return
        try:
            with _keys() as wait, Live(render_top(store, config=config, height=console.height), console=console, screen=True,
                                       auto_refresh=False) as live:
                while wait(interval) not in ("q", "Q"):
                    live.update(render_top(store, config=config, height=console.height), refresh=True)
        except KeyboardInterrupt:
            pass
        except StoreGone as e:  # a replaced file: stop, rather than hold its old WAL open (store/health.py)
            raise click.ClickException(str(e)) from None
