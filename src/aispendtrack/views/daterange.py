"""The dashboard's period, shared through its URL, and the same choice in the API:
`?period=today|7d|month|last-month|30d`, or `?from=YYYY-MM-DD&to=YYYY-MM-DD` (whole UTC
days, `to` included; `to` alone is an error, `from` alone runs to today), and a tag filter
`?tag=NAME=VALUE`. Bad input is a `ValueError` naming the parameter (the routes turn it
into a 400); nothing here reads the clock: `today` is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from aispendtrack.auth.tags import MAX_VALUE, NAME_RE

PRESETS = {"today": "today", "7d": "last 7 days", "month": "this month", "last-month": "last month",
           "30d": "last 30 days"}  # as a heading says them: "Spend, last 7 days"
DEFAULT = "month"
MAX_DAYS = 3_660  # ten years: a range longer than that is a typo


@dataclass(frozen=True)
class DayRange:
    """Whole UTC days [first, last]; `preset` when chosen by name."""

    first: date
    last: date
    preset: str | None = None

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def until(self) -> datetime:
        """The end, exclusive: midnight after `last`."""
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def label(self) -> str:
        if self.preset is not None:
            return PRESETS[self.preset]
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()} to {self.last.isoformat()}"

    def query(self) -> dict[str, str]:
        """The URL parameters that name this range again."""
        if self.preset is not None:
            return {"period": self.preset}
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def preset(name: str, today: date) -> DayRange:
    if name == "today":
        return DayRange(today, today, name)
    if name == "7d":
        return DayRange(today - timedelta(days=6), today, name)
    if name == "30d":
        return DayRange(today - timedelta(days=29), today, name)
    if name == "month":
        return DayRange(today.replace(day=1), today, name)
    if name == "last-month":
        last = today.replace(day=1) - timedelta(days=1)
        return DayRange(last.replace(day=1), last, name)
    raise ValueError(f"period: {name[:40]!r} is not one of {', '.join(PRESETS)}")


def _day(field: str, text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field}: {text[:40]!r} is not a date (YYYY-MM-DD, e.g. 2026-11-01)") from None


def parse_range(today: date, period: str | None = None, from_: str | None = None,
                to: str | None = None) -> DayRange:
    """The range the URL asks for (the default preset when it asks for none)."""
    period, from_, to = (v.strip() if v else None for v in (period, from_, to))
    if period and (from_ or to):
        raise ValueError("period: give either period or from/to, not both")
    if period:
        return preset(period, today)
    if to and not from_:
        raise ValueError("from: required with to (the first day of the range)")
    if not from_:
        return preset(DEFAULT, today)
    first = _day("from", from_)
    last = _day("to", to) if to else today
    if first > last:
        raise ValueError(f"from: {first.isoformat()} is after to ({last.isoformat()})")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValueError(f"to: the range is {(last - first).days + 1:,} days long; at most {MAX_DAYS:,}")
    return DayRange(first, last)


def parse_tag(text: str | None, field: str = "tag") -> tuple[str, str] | None:
    """`NAME=VALUE` → (name, value); None for nothing."""
    text = (text or "").strip()
    if not text:
        return None
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not value:
        raise ValueError(f"{field}: write NAME=VALUE (e.g. feature=search)")
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"{field}: tag name {name[:40]!r}: lower-case letters, digits, '_', '.', '-' (at most 64)")
    if len(value) > MAX_VALUE or not value.isprintable():
        raise ValueError(f"{field}: the value must be 1-{MAX_VALUE} printable characters")
    return name, value


def parse_tag_by(text: str | None, field: str = "by") -> str | None:
    """`tag:NAME` (or a bare NAME) → `tag:NAME`; None for nothing."""
    text = (text or "").strip()
    if not text:
        return None
    name = text[4:] if text.startswith("tag:") else text
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"{field}: tag:NAME, NAME of lower-case letters, digits, '_', '.', '-' (at most 64)")
    return f"tag:{name}"


def utc_day(now: float) -> date:
    return datetime.fromtimestamp(now, UTC).date()
