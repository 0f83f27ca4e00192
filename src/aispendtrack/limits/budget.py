"""Pure budget rules: periods, money units, the reservation bound and the admit decision.

Money is held as integer nano-dollars (``NANO`` per USD) so counters add exactly in
SQLite; a cost is rounded *up* to the next nano-dollar, so a counter is never below the
ledger's decimal cost.

Periods (all UTC) are half-open ``[start, end)``: ``day`` from 00:00, ``week`` from
Monday 00:00 (ISO weeks), ``month`` the calendar month (`window.month_bounds`, the one
owner of month math), ``total`` forever (no end, no reset). A period's key names it
(``"d2026-11-30"``, ``"w2026-W49"``, ``"m2026-11"``, ``"t"``), so a counter keyed by it
starts at zero in a new period with nothing to run.

Reservation bound for one call: input tokens <= request body bytes (a token is at least
one byte of the text it encodes, and the JSON around each message outweighs the few
framing tokens a provider adds), output tokens <= the request's max-tokens field, else
the configured default. Not bounded: images or files referenced by URL (their tokens are
not in the body) and calls with no max-tokens field that outrun the default; their
overshoot is settled and shown, never hidden.
"""

from __future__ import annotations

import datetime
import math
import time
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Literal

from aispendtrack.limits.window import month_bounds
from aispendtrack.families import registry

Period = Literal["day", "week", "month", "total"]
PERIODS: tuple[str, ...] = ("day", "week", "month", "total")
NANO = 10**9
DAY = 86_400


@dataclass(frozen=True, slots=True)
class Budget:
    """A budget in force for one subject (an account or a key)."""

    scope: Literal["account", "key"]
    subject: str  # account name or key id
    limit_nano: int
    period: str
    since: float = 0.0  # epoch the budget was set (informational)

    @property
    def usd(self) -> Decimal:
        return to_usd(self.limit_nano)


def to_nano(usd: Decimal | str | float | int | None) -> int:
    """USD → nano-dollars, rounded up; None → 0."""
    if usd is None:
        return 0
    value = usd if isinstance(usd, Decimal) else Decimal(str(usd))
    return int((value * NANO).to_integral_value(ROUND_CEILING))


def to_usd(nano: int) -> Decimal:
    return (Decimal(nano) / NANO).normalize() if nano else Decimal(0)


def usd_text(nano: int) -> str:
    """Exact decimal dollars, no exponent (headers, messages, JSON)."""
    return format(to_usd(nano), "f")


# The largest budget: a billion dollars keeps every nano-dollar sum far inside SQLite's
# 64-bit integers (9.2e18 nano = 9.2 billion USD).
MAX_BUDGET_USD = Decimal(1_000_000_000)


def parse_usd(text: str | float | Decimal) -> int:
    """An amount of USD: finite, non-negative, at most 9 decimals → nano-dollars."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise ValueError(f"budget must be a number of USD, got {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"budget must be a finite number of USD, got {text!r}")
    if value < 0:
        raise ValueError(f"budget must be >= 0 USD, got {text!r}")
    if value * NANO != int(value * NANO):
        raise ValueError(f"budget has more than 9 decimals: {text!r}")
    return int(value * NANO)


def parse_budget(text: str | float | Decimal) -> int:
    """A budget limit from the CLI or API: `parse_usd`, and at most `MAX_BUDGET_USD`."""
    nano = parse_usd(text)
    if nano > MAX_BUDGET_USD * NANO:
        raise ValueError(f"budget must be at most {MAX_BUDGET_USD} USD, got {text!r}")
    return nano


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"unknown budget period {period!r} (expected one of {', '.join(PERIODS)})")
    return period


def period_bounds(period: str, now: float) -> tuple[str, float, float | None]:
    """``(key, start, end)`` of the period holding `now`; ``end`` None for ``total``."""
    if period == "month":
        key, start, end = month_bounds(now)
        return "m" + key, start, end
    if period == "total":
        return "t", 0.0, None
    day_start = math.floor(now / DAY) * DAY  # UTC days are whole multiples of 86400
    if period == "day":
        return "d" + time.strftime("%Y-%m-%d", time.gmtime(day_start)), day_start, day_start + DAY
    if period == "week":
        tm = time.gmtime(day_start)
        start = day_start - tm.tm_wday * DAY  # tm_wday: Monday = 0
        y, w, _ = _iso_week(start)
        return f"w{y:04d}-W{w:02d}", start, start + 7 * DAY
    raise ValueError(f"unknown budget period {period!r}")


def _iso_week(epoch: float) -> tuple[int, int, int]:
    return tuple(datetime.datetime.fromtimestamp(epoch, datetime.UTC).isocalendar())


def reset_seconds(period: str, now: float) -> int | None:
    """Whole seconds (ceil, >= 1) until the period of `now` ends; None for ``total``."""
    end = period_bounds(period, now)[2]
    return None if end is None else max(1, math.ceil(end - now))


def output_bound(body: dict | None, default: int) -> int:
    """The most output tokens the request allows: its max-tokens field, else `default`."""
    if isinstance(body, dict):
        # every family's max-tokens field (`aispendtrack.families`): the body may be any of them
        found = [v for v in registry.max_tokens(body) if isinstance(v, int) and not isinstance(v, bool) and v >= 0]
        if found:
            return max(found)
    return default


def admits(limit_nano: int, spent_nano: int, reserved_nano: int, amount_nano: int) -> bool:
    """The admit rule: the call fits if settled + held + this reservation <= the budget."""
    return spent_nano + reserved_nano + amount_nano <= limit_nano


def remaining_nano(limit_nano: int, spent_nano: int, reserved_nano: int) -> int:
    return max(0, limit_nano - spent_nano - reserved_nano)


def period_label(period: str, key: str) -> str:
    """Human name of a period for messages: "month 2026-11", "total"."""
    return "total" if period == "total" else f"{period} {key[1:]}"
