"""How every screen writes money, durations, times and counts — the CLI tables, `top`, the
session summary, the dashboard and the texts of refusals and webhooks. One rule each, so
the same amount never reads `$0.0042` in one place and `$0.00420000` in the next.

- money: `$1,234.56` from a dollar up (cents); below a dollar three significant digits
  with at least cents (`$0.50`, `$0.0142`, `$0.000123`); `$0.00` for zero. Exact values
  stay in `--json`, the API and the dashboard's `title` attributes.
- durations: the two largest units, floored (`24 d 7 h`, `3 h 5 min`, `4 min 2 s`, `42 s`).
- times in tables: `2026-12-07 16:30 UTC` (a live view's clock: `16:30:40`).

A leaf module (no project imports), so the proxy's own messages can use it too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

DASH = "—"
_CENT = Decimal("0.01")


def fmt_usd(value: Decimal | str | int | None, none: str = DASH) -> str:
    """Dollars for people (see the module's rule); None → `none`."""
    if value is None:
        return none
    v = Decimal(value)
    sign, v = ("-" if v < 0 else ""), abs(v)
    if v == 0:
        return "$0.00"
    if v < 1:
        q = v.quantize(Decimal(1).scaleb(v.adjusted() - 2), rounding=ROUND_HALF_UP)
        if q < 1:  # 0.9996 rounds up to a dollar: written as one below
            text = format(q, "f").rstrip("0")
            return f"{sign}${text}" if len(text.split(".")[1]) >= 2 else f"{sign}${q:.2f}"
    return f"{sign}${v.quantize(_CENT, rounding=ROUND_HALF_UP):,.2f}"


def fmt_int(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def fmt_tokens(value: int | None) -> str:
    """Exact below 100,000, else compact (`271.9M`): tables stay narrow, JSON stays exact."""
    if value is None:
        return DASH
    if abs(value) < 100_000:
        return f"{value:,}"
    for unit, div in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(value) >= div:
            return f"{value / div:.1f}{unit}"
    return str(value)


_UNITS = (("d", 86_400), ("h", 3600), ("min", 60), ("s", 1))


def fmt_duration(seconds: float | None, none: str = DASH) -> str:
    """`24 d 7 h`, `3 h 5 min`, `4 min 2 s`, `42 s`: the two largest units, floored; a
    zero second unit is left out (`3 h`)."""
    if seconds is None:
        return none
    left = max(0, int(seconds))
    parts = []
    for unit, size in _UNITS:
        n, left = divmod(left, size)
        if n or (parts and len(parts) < 2):
            parts.append((n, unit))
        if len(parts) == 2:
            break
    parts = [p for i, p in enumerate(parts) if i == 0 or p[0]]
    return " ".join(f"{n} {unit}" for n, unit in parts) if parts else "0 s"


def _utc(ts: str | datetime | float) -> datetime:
    if isinstance(ts, datetime):
        return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    if isinstance(ts, (int, float)):
        return datetime.fromtimestamp(ts, UTC)
    return _utc(datetime.fromisoformat(ts.replace("Z", "+00:00")))


def fmt_time(ts: str | datetime | float | None, none: str = DASH) -> str:
    """A stored timestamp (ISO text, datetime or epoch) as `2026-12-07 16:30 UTC`."""
    return none if ts is None or ts == "" else _utc(ts).strftime("%Y-%m-%d %H:%M UTC")


def fmt_clock(ts: str | datetime | float) -> str:
    """The time of day of a live view's row, to the second (`16:30:40`); its header
    carries the date and the zone."""
    return _utc(ts).strftime("%H:%M:%S")


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"
