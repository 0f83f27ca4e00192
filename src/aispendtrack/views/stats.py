"""The session summary: a `SessionStats` (see `store.totals`) as rich panels and tables
(`render_summary`, printed on exit) or plain text (`summary_text`, the event log)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.console import Group, RenderableType

from aispendtrack.store.totals import SessionStats, Stats
from aispendtrack.views import render
from aispendtrack.views.formats import fmt_int, plural


def build_summary(rows: Iterable[Mapping]) -> SessionStats:
    stats = SessionStats()
    for row in rows:
        stats.add(row)
    return stats


def key_label(s: SessionStats, key: str | None) -> str:
    """"key_… name (ask_…abcd)": the id commands take, the name people know, the hint."""
    name, hint = s.key_names.get(key), s.key_hints.get(key)
    return " ".join([render.label(key), *([render.safe(name)] if name else []), *([f"({hint})"] if hint else [])])


def _stats(rows_or_stats) -> SessionStats:
    return rows_or_stats if isinstance(rows_or_stats, SessionStats) else build_summary(rows_or_stats)


def render_summary(rows_or_stats) -> RenderableType:
    s = _stats(rows_or_stats)
    parts: list[RenderableType] = [render.totals_panel(s.totals, "aispendtrack: this session")]
    if s.totals.calls:
        models = [(render.label(k), v) for k, v in s.ranked(s.by_model)]
        keys = [(key_label(s, k), v) for k, v in s.ranked(s.by_key)]
        parts.append(render.stats_table(models, "model", title="per model"))
        parts.append(render.stats_table(keys, "key", title="per key"))
    return Group(*parts)


def _line(name: str, st: Stats) -> str:
    fails = st.rate_limited + st.quota_exceeded
    extra = "".join(
        f", {n} {w}" for n, w in ((st.errors, "errors"), (fails, "429s"), (st.budget_exceeded, "budget refused"),
                                  (st.forbidden, "forbidden"), (st.unpriced_calls, "unpriced"),
                                  (st.local_calls, "local")) if n
    )
    return f"  {name}: {plural(st.calls, 'call')}, {render.fmt_cost(st)}{extra}"


def summary_text(rows_or_stats) -> str:
    """Plain text for the event log: totals, then one line per model and per key."""
    s = _stats(rows_or_stats)
    t = fmt_int
    st = s.totals
    lines = [
        f"session: {plural(st.calls, 'call')} ({st.forwarded:,} forwarded, {st.errors:,} errors, "
        f"{st.rate_limited + st.quota_exceeded:,} 429s [{st.rate_limited:,} rate limit, {st.quota_exceeded:,} quota], "
        f"{st.rejected:,} rejected, {st.budget_exceeded:,} budget refused, {st.forbidden:,} forbidden)",
        f"tokens: input {t(st.input_tokens)} (cached {t(st.cache_read_tokens)}, cache write "
        f"{t(st.cache_write_tokens)}), output {t(st.output_tokens)} (reasoning {t(st.reasoning_tokens)})",
        f"cost: {render.fmt_cost(st)} ({plural(st.priced_calls, 'priced call')})",
        *render.not_in_total(st),
    ]
    if st.calls:
        lines.append("per model:")
        lines += [_line(render.label(k), v) for k, v in s.ranked(s.by_model)]
        lines.append("per key:")
        lines += [_line(key_label(s, k), v) for k, v in s.ranked(s.by_key)]
    return "\n".join(lines)
