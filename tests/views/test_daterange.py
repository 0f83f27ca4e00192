"""The dashboard's period and tag choice (`views.daterange`): presets as whole UTC days
counted from the `today` passed in, custom from/to with `to` included, and every bad
input a `ValueError` naming the parameter."""

from datetime import UTC, date, datetime

import pytest

from aispendtrack.views.daterange import MAX_DAYS, parse_range, parse_tag, parse_tag_by

TODAY = date(2026, 1, 15)


@pytest.mark.parametrize("period, first, last", [
    ("today", date(2026, 1, 15), date(2026, 1, 15)),
    ("7d", date(2026, 1, 9), date(2026, 1, 15)),
    ("30d", date(2025, 12, 17), date(2026, 1, 15)),
    ("month", date(2026, 1, 1), date(2026, 1, 15)),
    ("last-month", date(2025, 12, 1), date(2025, 12, 31)),  # across a year's end
])
def test_presets(period, first, last):
    r = parse_range(TODAY, period)
    assert (r.first, r.last, r.preset, r.query()) == (first, last, period, {"period": period})
    assert r.days == (last - first).days + 1


def test_last_month_from_a_months_first_day_and_a_leap_february():
    r = parse_range(date(2028, 3, 1), "last-month")
    assert (r.first, r.last) == (date(2028, 2, 1), date(2028, 2, 29))


def test_no_choice_is_this_month():
    assert parse_range(TODAY) == parse_range(TODAY, "month")


def test_custom_days_to_included():
    r = parse_range(TODAY, from_="2025-11-01", to="2025-11-30")
    assert (r.since, r.until) == (datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))
    assert (r.preset, r.label, r.query()) == (None, "2025-11-01 to 2025-11-30", {"from": "2025-11-01", "to": "2025-11-30"})
    assert parse_range(TODAY, from_="2026-01-10").last == TODAY  # from alone: up to today
    assert parse_range(TODAY, from_="2026-01-10", to="2026-01-10").label == "2026-01-10"


@pytest.mark.parametrize("period, from_, to, message", [
    ("yesterday", None, None, "period: 'yesterday' is not one of"),
    ("7d", "2026-01-01", None, "period: give either period or from/to"),
    (None, None, "2026-01-01", "from: required with to"),
    (None, "2026-13-01", None, "from: '2026-13-01' is not a date"),
    (None, "2026-01-01", "tomorrow", "to: 'tomorrow' is not a date"),
    (None, "2026-1-1", None, "from: '2026-1-1' is not a date"),
    (None, "2026-01-02", "2026-01-01", "from: 2026-01-02 is after to (2026-01-01)"),
    (None, "0001-01-01", "9999-12-31", f"to: the range is 3,652,059 days long; at most {MAX_DAYS:,}"),
])
def test_bad_ranges_name_the_parameter(period, from_, to, message):
    with pytest.raises(ValueError) as e:
        parse_range(TODAY, period, from_, to)
    assert str(e.value).startswith(message)


def test_tags():
    assert parse_tag(" feature = search ") == ("feature", "search")
    assert parse_tag("") is None and parse_tag(None) is None
    assert parse_tag_by("feature") == parse_tag_by("tag:feature") == "tag:feature"
    assert parse_tag_by("") is None
    for bad in ("feature", "feature=", "Bad=x", "a'b=x", "x=" + "v" * 129, "x=a\x1bb"):
        with pytest.raises(ValueError, match="^tag: "):
            parse_tag(bad)
    for bad in ("Feature", "tag:", "a b", "tag:a'b"):
        with pytest.raises(ValueError, match="^by: "):
            parse_tag_by(bad)
