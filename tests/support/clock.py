"""For tests whose expectations depend on the UTC date (marker `period`; scripts/test-dates runs
them at month ends, with the clock crossing midnight while they run)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TypeVar

T = TypeVar("T")


def utc_today() -> date:
    return datetime.now(UTC).date()


def day_of(epoch: float) -> date:
    """The UTC day of a `time.time()` instant."""
    return datetime.fromtimestamp(epoch, UTC).date()


def day(d: date) -> date:
    return d


def month(d: date) -> date:
    return d.replace(day=1)


def within_one(attempt: Callable[[], T], period: Callable[[date], date] = day) -> tuple[T, date]:
    """`attempt()`, once more when the UTC `period` (`day` or `month`) changed while it ran, so
    that what it built and read back (a page's "today" or "this month" and `report` for the same
    period) all falls in one period: (what the attempt returned, the day it ran on). The second
    attempt starts after the boundary and takes seconds, far from the next one."""
    for _ in range(2):
        start = utc_today()
        got = attempt()
        end = utc_today()
        if period(end) == period(start):
            return got, end
    raise AssertionError(f"the UTC {period.__name__} changed during both attempts")
