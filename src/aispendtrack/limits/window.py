"""Pure limit logic: the hourly sliding log and calendar-month helpers (no I/O).

Times are float epoch seconds (UTC). Comparisons are exact (real-number arithmetic on
the float values); see `window_cut`, `expiry` and `seconds_until`.

Hourly window, the rules `store/limits.py` implements in SQL (its tests hold them):

* An admitted request at time ``t`` counts for every ``now`` with ``t <= now < t + 3600``:
  the window at ``now`` is the half-open interval ``(now - 3600, now]``. At exactly
  ``t + 3600`` the event no longer counts.
* A request at ``now`` is admitted iff fewer than ``limit`` events are in the window.
* Denied, with window events ``e[0] <= ... <= e[n-1]`` (``n >= limit``), the next request
  is admitted at ``retry_at = e[n - limit] + 3600`` (the oldest event that keeps the
  window full leaves it), and ``retry_after = max(1, ceil(retry_at - now))``: a request at
  ``now + retry_after`` is admitted, one at ``now + retry_after - 1`` is not.
* ``remaining`` counts the current request when admitted (``limit - n - 1``), else 0.
* ``reset_at`` = the moment ``remaining`` next goes up: when admitted, the oldest counted
  event's expiry; when denied, ``retry_at``. ``None`` for unlimited / a limit of 0.
* A limit of 0 admits nothing, ever: denied with ``retry_after=None``.

Months are calendar months in UTC: ``[month_start, next_month_start)``; the last
microsecond of November is November, ``00:00:00`` on 1 December is December.
"""

from __future__ import annotations

import calendar
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

WINDOW = 3600  # seconds

# For now in [2**30 + WINDOW, 2**31) (2004-01-10 .. 2038-01-19) now, now - WINDOW and
# t + WINDOW share one binade whose spacing (2**-22) divides 1: float math is exact.
_EXACT_LO = 2.0**30 + WINDOW
_EXACT_HI = 2.0**31 - WINDOW


def window_cut(now: float) -> float:
    """The largest float ``c <= now - WINDOW`` (exactly): event ``ts`` counts iff ``ts > c``."""
    c = now - WINDOW
    if _EXACT_LO <= now < _EXACT_HI:
        return c
    if Fraction(c) > Fraction(now) - WINDOW:
        c = math.nextafter(c, -math.inf)
    return c


def expiry(ts: float) -> float:
    """The smallest float ``>= ts + WINDOW`` (exactly): when the event stops counting."""
    e = ts + WINDOW
    if _EXACT_LO <= e < _EXACT_HI:
        return e
    if Fraction(e) < Fraction(ts) + WINDOW:
        e = math.nextafter(e, math.inf)
    return e


def seconds_until(now: float, at: float) -> int:
    """Whole seconds (ceil, at least 1) from `now` until `at`, computed exactly."""
    return max(1, math.ceil(Fraction(at) - Fraction(now)))


def millis_until(now: float, at: float) -> int:
    """Whole milliseconds (ceil, at least 1); ``ceil(millis_until / 1000) == seconds_until``."""
    return max(1, math.ceil((Fraction(at) - Fraction(now)) * 1000))


def reset_seconds(now: float, at: float | None) -> int:
    """Seconds until a reset epoch for headers: 0 when already reset, else `seconds_until`."""
    if at is None or at <= now:
        return 0
    return seconds_until(now, at)


# -- calendar months (UTC) ------------------------------------------------------------

_month_cache: tuple[int, int, str] = (0, 0, "")


def month_bounds(now: float) -> tuple[str, int, int]:
    """``("2026-11", start_epoch, next_month_start_epoch)`` for the UTC month of `now`."""
    global _month_cache
    start, end, key = _month_cache  # one tuple read: safe across threads
    if start <= now < end:
        return key, start, end
    tm = time.gmtime(math.floor(now))  # floor: month edges are whole seconds
    y, m = tm.tm_year, tm.tm_mon
    start = calendar.timegm((y, m, 1, 0, 0, 0))
    end = calendar.timegm((y + 1, 1, 1, 0, 0, 0) if m == 12 else (y, m + 1, 1, 0, 0, 0))
    key = f"{y:04d}-{m:02d}"
    _month_cache = (start, end, key)
    return key, start, end


def month_key(now: float) -> str:
    return month_bounds(now)[0]


def month_start(now: float) -> int:
    return month_bounds(now)[1]


def next_month_start(now: float) -> int:
    return month_bounds(now)[2]


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of one check-and-count, with the status needed for response headers.

    ``*_remaining`` include this request when admitted. ``hourly_reset``: epoch when
    ``hourly_remaining`` next goes up (oldest counted event leaves the window; on an
    hourly 429 = when a request is admitted again; ``now`` if nothing is counted).
    ``monthly_reset``: epoch of the next UTC month start. All ``None`` when unlimited.
    """

    admitted: bool
    limit: Literal["hourly", "monthly", "budget", "key"] | None  # which limit denied ("key": the key itself)
    retry_after: int | None  # whole seconds, >= 1; None if admitted or blocked (limit 0)
    should_retry: bool | None  # None if admitted
    now: float
    retry_at: float | None  # epoch from which a request is admitted again (denied only)
    key_id: str
    account: str  # accounts.name
    month: str  # "2026-11"
    hourly_limit: int | None
    hourly_remaining: int | None
    hourly_reset: float | None
    monthly_limit: int | None
    monthly_remaining: int | None
    monthly_reset: int | None
    budget: Any = None  # `store.budgets.Reservation` when the call was charged to budgets
    reason: str | None = None  # why the key itself was refused (limit "key")


@dataclass(frozen=True, slots=True)
class Usage:
    key_id: str | None
    hourly_count: int | None  # requests of the key in the window (now - 3600, now]
    account: str | None
    month: str
    monthly_count: int | None  # calls of the account in the UTC month of now
