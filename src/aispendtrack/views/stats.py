"""What a set of calls cost: the `Stats` accumulator, and the proxy's session summary.

The metering addon keeps one `SessionStats` per mitmdump run and calls `add(row)` with each
ledger row it writes (same keys as the `calls` columns, `cost_usd` as Decimal or str); `add`
is O(1) so it can run on the event loop, and no rows are kept. At the end it logs
`summary_text(stats)` and/or prints `render_summary(stats)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from decimal import Context, Decimal, InvalidOperation

from rich.console import Group, RenderableType

from aispendtrack.store.ledger_schema import REFUSED, UPSTREAM, Outcome
from aispendtrack.views import render

# Exact money arithmetic regardless of the thread's decimal context.
CTX = Context(prec=100)
_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


def canon(value: Decimal) -> str:
    """Decimal text without exponent or trailing zeros: 0.001000 → "0.001", 1E+2 → "100"."""
    return format(value.normalize(CTX), "f")


def _add_opt(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else a + b


@dataclass
class Stats:
    """Counts for a set of calls. Token sums are None while every call's count is unknown."""

    calls: int = 0
    forwarded: int = 0
    errors: int = 0  # upstream_error + aborted
    rejected: int = 0  # 401
    rate_limited: int = 0
    quota_exceeded: int = 0
    input_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: Decimal = Decimal(0)  # priced calls only
    priced_calls: int = 0
    unpriced_calls: int = 0  # cost unknown: model not in the price list
    unmetered_calls: int = 0  # reached the provider, but no usage could be read

    def add_row(self, row: Mapping) -> None:
        self.calls += 1
        outcome = row.get("outcome")
        if outcome == Outcome.FORWARDED:
            self.forwarded += 1
        elif outcome in UPSTREAM:
            self.errors += 1
        elif outcome == Outcome.REJECTED:
            self.rejected += 1
        elif outcome == Outcome.RATE_LIMITED:
            self.rate_limited += 1
        elif outcome == Outcome.QUOTA_EXCEEDED:
            self.quota_exceeded += 1
        for name in _TOKENS:
            v = row.get(name)
            if v is not None:
                setattr(self, name, (getattr(self, name) or 0) + v)
        cost, pricing = row.get("cost_usd"), row.get("pricing")
        if cost is not None:
            try:
                value = cost if isinstance(cost, Decimal) else Decimal(str(cost).strip())
                if not value.is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                self.unpriced_calls += 1
                return
            self.priced_calls += 1
            self.cost_usd = CTX.add(self.cost_usd, value)
        elif pricing in ("priced", "unpriced"):
            self.unpriced_calls += 1
        elif pricing == "unmetered" and outcome not in REFUSED:
            self.unmetered_calls += 1

    def merge(self, other: Stats) -> None:
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "cost_usd":
                setattr(self, f.name, CTX.add(a, b))
            else:
                setattr(self, f.name, _add_opt(a, b))

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["cost_usd"] = canon(self.cost_usd)
        return d


class SessionStats:
    """Per-run totals, per model and per key; `add(row)` is O(1) and keeps no rows."""

    def __init__(self) -> None:
        self.totals = Stats()
        self.by_model: dict[str | None, Stats] = {}
        self.by_key: dict[str | None, Stats] = {}
        self.key_hints: dict[str | None, str] = {}

    def add(self, row: Mapping) -> None:
        self.totals.add_row(row)
        model, key = row.get("model"), row.get("key_id")
        (self.by_model.get(model) or self.by_model.setdefault(model, Stats())).add_row(row)
        (self.by_key.get(key) or self.by_key.setdefault(key, Stats())).add_row(row)
        if row.get("key_hint") and key not in self.key_hints:
            self.key_hints[key] = row["key_hint"]

    def key_label(self, key: str | None) -> str:
        hint = self.key_hints.get(key)
        return f"{render.label(key)} ({hint})" if hint else render.label(key)

    def ranked(self, groups: dict) -> list:
        return sorted(groups.items(), key=lambda kv: (-kv[1].cost_usd, -kv[1].calls, str(kv[0])))


def build_summary(rows: Iterable[Mapping]) -> SessionStats:
    stats = SessionStats()
    for row in rows:
        stats.add(row)
    return stats


def _stats(rows_or_stats) -> SessionStats:
    return rows_or_stats if isinstance(rows_or_stats, SessionStats) else build_summary(rows_or_stats)


def render_summary(rows_or_stats) -> RenderableType:
    s = _stats(rows_or_stats)
    parts: list[RenderableType] = [render.totals_panel(s.totals, "aispendtrack: this session")]
    if s.totals.calls:
        models = [(render.label(k), v) for k, v in s.ranked(s.by_model)]
        keys = [(s.key_label(k), v) for k, v in s.ranked(s.by_key)]
        parts.append(render.stats_table(models, "model", title="per model"))
        parts.append(render.stats_table(keys, "key", title="per key"))
    return Group(*parts)


def _line(name: str, st: Stats) -> str:
    fails = st.rate_limited + st.quota_exceeded
    extra = "".join(
        f", {n} {w}" for n, w in ((st.errors, "errors"), (fails, "429s"), (st.unpriced_calls, "unpriced")) if n
    )
    return f"  {name}: {render.plural(st.calls, 'call')}, {render.fmt_cost(st)}{extra}"


def summary_text(rows_or_stats) -> str:
    """Plain text for the event log: totals, then one line per model and per key."""
    s = _stats(rows_or_stats)
    t = render.fmt_int
    st = s.totals
    lines = [
        f"session: {render.plural(st.calls, 'call')} ({st.forwarded:,} forwarded, {st.errors:,} errors, "
        f"{st.rate_limited + st.quota_exceeded:,} 429s [{st.rate_limited:,} rate limit, {st.quota_exceeded:,} quota], "
        f"{st.rejected:,} rejected)",
        f"tokens: input {t(st.input_tokens)} (cached {t(st.cache_read_tokens)}, cache write "
        f"{t(st.cache_write_tokens)}), output {t(st.output_tokens)} (reasoning {t(st.reasoning_tokens)})",
        f"cost: {render.fmt_cost(st)} ({render.plural(st.priced_calls, 'priced call')})",
        *render.not_in_total(st),
    ]
    if st.calls:
        lines.append("per model:")
        lines += [_line(render.label(k), v) for k, v in s.ranked(s.by_model)]
        lines.append("per key:")
        lines += [_line(s.key_label(k), v) for k, v in s.ranked(s.by_key)]
    return "\n".join(lines)
