"""Rich rendering helpers shared by `report`, `top` and the session summary.

Numbers, money, durations and times are written by `views.formats` (one rule each); unknown
numbers print as "—" (never 0); calls without a price are named ("3 unpriced calls not in
total"), never folded into $0.

Names come from upstream responses and operators (models, accounts, keys): every one goes
through `safe()` before it reaches a terminal — no control character (an escape sequence
could recolour or rewrite the screen), no rich markup, at most MAX_CELL characters.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from aispendtrack.views.formats import DASH, fmt_int, fmt_tokens, fmt_usd, plural
from aispendtrack.views.tables import AtWidth, Layout, fitted

if TYPE_CHECKING:
    from aispendtrack.store.totals import Stats

MAX_CELL = 64  # characters of one name in a table cell or a message
_EIGHTHS = " ▏▎▍▌▋▊▉█"


LOCAL_COST = "local $0"  # served by a local provider: free, and not by a price list


def fmt_cost(stats: Stats) -> str:
    """A group's cost cell: "unpriced" if none of its calls had a price, "local $0" if they all
    ran on a local provider, "—" if no cost applies."""
    if stats.priced_calls == 0:
        return "unpriced" if stats.unpriced_calls else LOCAL_COST if stats.local_calls else DASH
    return fmt_usd(stats.cost_usd)


def not_in_total(stats: Stats) -> list[str]:
    """Explicit notes about calls whose cost is not in the total."""
    notes = []
    if stats.unpriced_calls:
        notes.append(f"{plural(stats.unpriced_calls, 'unpriced call')} not in total (model not in the price list)")
    if stats.unmetered_calls:
        notes.append(f"{plural(stats.unmetered_calls, 'unmetered call')} not in total (no usage reported)")
    if stats.local_calls:
        notes.append(f"{plural(stats.local_calls, 'local call')} at $0 (a local provider, [providers.local])")
    return notes


def make_console(file: TextIO | None = None, width: int | None = None) -> Console:
    """Colour only on a terminal and without NO_COLOR; rich decides TTY-ness itself."""
    no_color = bool(os.environ.get("NO_COLOR"))
    return Console(file=file or sys.stdout, width=width, no_color=no_color, highlight=False)


def totals_panel(stats: Stats, title: str, subtitle: str | None = None) -> RenderableType:
    """The totals in a panel of two label/value pairs a line; narrower than that panel,
    one pair a line under the title, so no number is wrapped."""
    fails = stats.rate_limited + stats.quota_exceeded
    pairs = [
        ("cost", fmt_cost(stats)), ("input tokens", fmt_int(stats.input_tokens)),
        ("  cached (read)", fmt_int(stats.cache_read_tokens)), ("  cache write", fmt_int(stats.cache_write_tokens)),
        ("output tokens", fmt_int(stats.output_tokens)), ("  reasoning", fmt_int(stats.reasoning_tokens)),
        ("priced", fmt_int(stats.priced_calls)),
        ("calls", fmt_int(stats.calls)), ("forwarded", fmt_int(stats.forwarded)), ("errors", fmt_int(stats.errors)),
        ("429s", f"{fails:,} ({stats.rate_limited:,} rate, {stats.quota_exceeded:,} quota)"),
        ("rejected (401)", fmt_int(stats.rejected)), ("budget refused", fmt_int(stats.budget_exceeded)),
        ("forbidden (403)", fmt_int(stats.forbidden)),
    ]  # fmt: skip
    notes = [Text(f"! {note}", style="yellow") for note in not_in_total(stats)]

    def build(width: int) -> RenderableType:
        left, right = pairs[:7], pairs[7:]
        col = [max(cell_len(p[i]) for p in half) for half in (left, right) for i in (0, 1)]
        grid = Table.grid(padding=(0, 2))
        if sum(col) + 3 * 2 + 4 <= width:  # the gaps, the panel's borders and padding
            for style, justify in (("bold", "left"), (None, "right")) * 2:
                grid.add_column(style=style, justify=justify, no_wrap=True)
            for (a, x), (b, y) in zip(left, right):
                grid.add_row(a, x, b, y)
            return Panel(Group(grid, *notes), title=title, subtitle=subtitle, title_align="left", box=box.ROUNDED,
                         expand=False)
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        for a, x in pairs:
            grid.add_row(a, x)
        head = [Text.from_markup(title, style="bold")] + ([Text.from_markup(subtitle)] if subtitle else [])
        return Group(*head, grid, *notes)

    return AtWidth(build)


def stats_table(rows: list[tuple[str, Stats]], dimension: str, *, title: str | None = None) -> RenderableType:
    """One line per group (labels are rich markup, as `safe()` makes them). Token columns
    whose every value is unknown, the budget / forbidden columns when nothing was refused so,
    and the unpriced / unmetered columns when nothing is missing, are left out to fit 80
    columns; narrower than that, one block per group."""
    cols: list[tuple[str, Any]] = [
        ("calls", lambda s: fmt_int(s.calls)),
        ("input", lambda s: fmt_tokens(s.input_tokens)),
        ("cache\nread", lambda s: fmt_tokens(s.cache_read_tokens)),
        ("output", lambda s: fmt_tokens(s.output_tokens)),
        ("reason-\ning", lambda s: fmt_tokens(s.reasoning_tokens)),
        ("cost", fmt_cost),
        ("err", lambda s: fmt_int(s.errors)),
        ("401", lambda s: fmt_int(s.rejected)),
        ("429", lambda s: fmt_int(s.rate_limited + s.quota_exceeded)),
        ("bud-\nget", lambda s: fmt_int(s.budget_exceeded) if s.budget_exceeded else ""),
        ("for-\nbidden", lambda s: fmt_int(s.forbidden) if s.forbidden else ""),
        ("un-\npriced", lambda s: fmt_int(s.unpriced_calls) if s.unpriced_calls else ""),
        ("un-\nmetered", lambda s: fmt_int(s.unmetered_calls) if s.unmetered_calls else ""),
        ("local", lambda s: fmt_int(s.local_calls) if s.local_calls else ""),
    ]
    optional = {"cache\nread", "reason-\ning", "bud-\nget", "for-\nbidden", "un-\npriced", "un-\nmetered", "local"}
    cells = [[fn(s) for _, fn in cols] for _, s in rows]
    keep = [i for i, (name, _) in enumerate(cols) if name not in optional or any(c[i] not in ("", DASH) for c in cells)]
    names = [cols[i][0] for i in keep]
    table_rows: list[list[str | Text]] = [
        [Text.from_markup(label), *(Text(row[i], style="yellow" if cols[i][0].startswith("un-") else "") for i in keep)]
        for (label, _), row in zip(rows, cells)
    ]
    failed = [Text(fmt_int(s.errors + s.rejected + s.rate_limited + s.quota_exceeded + s.budget_exceeded + s.forbidden))
              for _, s in rows]

    def pick(drop: set[str], extra: bool = False) -> Layout:
        idx = [0] + [i + 1 for i, n in enumerate(names) if n not in drop]
        return ([[dimension, *names][i] for i in idx] + (["failed"] if extra else []),
                [[r[i] for i in idx] + ([f] if extra else []) for r, f in zip(table_rows, failed)])

    detail = {"cache\nread", "reason-\ning"}
    compact = [pick(detail), pick(detail | {"err", "401", "429", "bud-\nget", "for-\nbidden"}, extra=True)]
    # a key's label (id, name, hint) may wrap between its words; a model's name never breaks
    return fitted([dimension, *names], table_rows, title=title, right=set(names) | {"failed"}, compact=compact,
                  wrap={dimension} if dimension == "key" else set())


def bar(value: float, maximum: float, width: int) -> str:
    """A horizontal bar of block characters, eighth-cell precision."""
    if maximum <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / maximum * width * 8))
    return "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")


def spend_bars(series: list[tuple[str, Decimal]], *, width: int = 40, title: str = "spend per day") -> RenderableType:
    """Label | bar | amount, one line per point (labels as given, e.g. days or minutes); the
    bar gives up columns first when the console is narrow."""
    top = max((float(v) for _, v in series), default=0.0)
    amounts = [fmt_usd(v) for _, v in series]

    def build(available: int) -> RenderableType:
        fixed = max((cell_len(lbl) for lbl, _ in series), default=0) + max(map(cell_len, amounts), default=0) + 4
        size = max(4, min(width, available - fixed))
        table = Table(title=title, box=None, title_justify="left", show_header=False, padding=(0, 1))
        table.add_column("when", style="dim", no_wrap=True)
        table.add_column("bar", style="cyan", min_width=size, no_wrap=True)
        table.add_column("usd", justify="right", no_wrap=True)
        for (label, value), amount in zip(series, amounts):
            table.add_row(label, bar(float(value), top, size), amount)
        return table

    return AtWidth(build)


def clean(value: Any, width: int = MAX_CELL) -> str:
    """`value` as text without control or format characters (each becomes "?"), cut to
    `width` characters with "…"."""
    text = str(value)
    if len(text) > width:
        text = text[: width - 1] + "…"
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text


def safe(value: Any, width: int = MAX_CELL) -> str:
    """`clean(value)` escaped for rich markup: for table cells and f-strings printed by rich."""
    return escape(clean(value, width))


def label(value: Any) -> str:
    return "(none)" if value is None or value == "" else safe(value)


def _period(since, until) -> str:
    def f(t):
        return t.strftime("%Y-%m-%d %H:%M") if (t.hour, t.minute) != (0, 0) else t.strftime("%Y-%m-%d")

    if since is None and until is None:
        return "all time"
    return f"{f(since) if since else 'start'} → {f(until) if until else 'now'} UTC"


def _group_label(by: str, key: Any, labels: dict | None = None) -> str:
    if by == "hour" and key:
        return f"{key[:10]} {key[11:13]}:00"
    if by == "member" and key is not None:  # a MemberKey; calls of no account (401s) are "(none)"
        return label(None) if key.account is None else f"{label(key.account)}/{label(key.member)}"
    if by == "key" and labels and key in labels:
        known = labels[key]
        return " ".join(safe(v) for v in (key, known.get("name"), known.get("hint")) if v)
    return label(key)


def render_report(rep: Any, *, bar_days: int = 62) -> RenderableType:
    """Totals panel, the per-dimension table and the daily spend bars of a `Report`."""
    filters = ", ".join(f"{k}={v}" for k, v in rep.filters.items())
    title = f"aispendtrack: {_period(rep.since, rep.until)}" + (f" ({filters})" if filters else "")
    parts: list[RenderableType] = [totals_panel(rep.totals, title)]
    if rep.totals.calls == 0:
        parts.append(Text("no calls in this period", style="dim"))
        return Group(*parts)
    rows = [(_group_label(rep.by, g.key, rep.labels), g.stats) for g in rep.groups]
    if rep.other is not None:
        rows.append((f"({rep.other.key} more)", rep.other.stats))
    parts += [Text(""), stats_table(rows, rep.by, title=f"by {rep.by}")]
    days = rep.daily[-bar_days:]
    if len(days) > 1:
        skipped = len(rep.daily) - len(days)
        title = "spend per day (UTC)" + (f", last {len(days)} days" if skipped else "")
        parts += [Text(""), spend_bars([(d, s.cost_usd) for d, s in days], title=title)]
    return Group(*parts)
