"""The reporting period: `parse_when` for ISO bounds, `resolve_period` for the command-line
shortcuts (`--today`, `--month`, `--days`, `--since`/`--until`). All times are UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from aispendtrack.limits.window import month_start
from aispendtrack.store.db import parse_iso, utcnow


MAX_DAYS = 36_600  # `--days`: a hundred years back is far enough


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def parse_when(text: str, *, end: bool = False) -> datetime:
    """ISO date or datetime, UTC unless it says otherwise. A bare date as an `end` bound
    means the end of that day (`--until 2026-11-30` includes the 30th): the one rule of
    `report` and `export`."""
    text = text.strip()
    try:
        if len(text) == 10:
            d = datetime.combine(date.fromisoformat(text), time(), UTC)
            return d + timedelta(days=1) if end else d
        return _utc(parse_iso(text))
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date or datetime (e.g. 2026-11-01 or 2026-11-01T09:30:00Z)"
        ) from None
    except OverflowError:  # the end of 9999-12-31, or year 1 moved to UTC
        raise ValueError(f"{text!r} is out of range: give a moment between years 1 and 9999 (UTC)") from None


def resolve_period(
    *, since: str | None = None, until: str | None = None, today: bool = False,
    month: bool = False, days: int | None = None, now: datetime | None = None,
) -> tuple[datetime | None, datetime | None]:  # fmt: skip
    """The [since, until) window chosen by the command-line options (at most one shortcut)."""
    now = _utc(now or utcnow())
    chosen = [n for n, v in (("--today", today), ("--month", month), ("--days", days is not None)) if v]
    if len(chosen) > 1 or (chosen and (since or until)):
        raise ValueError(f"choose one period: {', '.join(chosen + [o for o, v in (('--since', since), ('--until', until)) if v])}")
    midnight = datetime.combine(now.date(), time(), UTC)
    if today:
        return midnight, None
    if month:
        return datetime.fromtimestamp(month_start(now.timestamp()), UTC), None
    if days is not None:
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"--days must be from 1 to {MAX_DAYS}")
        return now - timedelta(days=days), None
    return _bound("since", since), _bound("until", until, end=True)


def _bound(name: str, text: str | None, *, end: bool = False) -> datetime | None:
    """`parse_when`, its error naming the bound (`--since`, or `since` in the API)."""
    if not text:
        return None
    try:
        return parse_when(text, end=end)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
