"""Budget periods (UTC day, ISO week, calendar month, total), money units, the admit rule."""

import calendar
import os
import time
from decimal import Decimal

import pytest

from aispendtrack.limits import budget as rules


def ts(*args) -> float:
    return float(calendar.timegm((*args, 0, 0, 0)[:6]))


@pytest.mark.parametrize("period, now, key, start, end", [
    ("day", ts(2026, 11, 30, 23, 59, 59) + 0.999, "d2026-11-30", ts(2026, 11, 30), ts(2026, 12, 1)),
    ("day", ts(2026, 12, 1), "d2026-12-01", ts(2026, 12, 1), ts(2026, 12, 2)),
    # 2026-11-30 is a Monday: the week starts there; Sunday 2026-11-29 is the week before
    ("week", ts(2026, 11, 30), "w2026-W49", ts(2026, 11, 30), ts(2026, 12, 7)),
    ("week", ts(2026, 11, 29, 23, 59, 59), "w2026-W48", ts(2026, 11, 23), ts(2026, 11, 30)),
    # ISO week 1 of 2027 starts Monday 2027-01-04; 2027-01-01 (Friday) is week 53 of 2026
    ("week", ts(2027, 1, 1, 12), "w2026-W53", ts(2026, 12, 28), ts(2027, 1, 4)),
    ("week", ts(2026, 12, 31, 23, 59, 59), "w2026-W53", ts(2026, 12, 28), ts(2027, 1, 4)),
    # Monday 2024-12-30 starts ISO week 1 of 2025
    ("week", ts(2024, 12, 30), "w2025-W01", ts(2024, 12, 30), ts(2025, 1, 6)),
    ("week", ts(2024, 12, 29, 23, 59, 59), "w2024-W52", ts(2024, 12, 23), ts(2024, 12, 30)),
    ("month", ts(2026, 11, 30, 23, 59, 59) + 0.5, "m2026-11", ts(2026, 11, 1), ts(2026, 12, 1)),
    ("month", ts(2026, 12, 1), "m2026-12", ts(2026, 12, 1), ts(2027, 1, 1)),
    ("month", ts(2028, 2, 29, 12), "m2028-02", ts(2028, 2, 1), ts(2028, 3, 1)),
    ("total", ts(2026, 11, 30), "t", 0.0, None),
])
def test_period_bounds(period, now, key, start, end):
    assert rules.period_bounds(period, now) == (key, start, end)


@pytest.fixture
def west_of_utc():
    """The process's local zone five hours behind UTC (POSIX TZ string, no tzdata needed)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "EST+5"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_week_key_is_the_utc_iso_week_whatever_the_local_zone(west_of_utc):
    assert time.localtime(ts(2026, 11, 30)).tm_mday == 29  # local Sunday evening
    assert rules.period_bounds("week", ts(2026, 11, 30, 3)) == ("w2026-W49", ts(2026, 11, 30), ts(2026, 12, 7))
    assert rules.period_bounds("week", ts(2024, 12, 30, 1))[0] == "w2025-W01"


def test_reset_seconds_ceil_and_total():
    assert rules.reset_seconds("day", ts(2026, 11, 30, 23, 59, 59) + 0.25) == 1
    assert rules.reset_seconds("week", ts(2026, 11, 30)) == 7 * 86400
    assert rules.reset_seconds("total", ts(2026, 11, 30)) is None


def test_unknown_period_is_refused():
    with pytest.raises(ValueError) as refused:
        rules.check_period("year")
    assert str(refused.value) == "unknown budget period 'year' (expected one of day, week, month, total)"
    with pytest.raises(ValueError) as refused:
        rules.period_bounds("year", ts(2026, 11, 30))
    assert str(refused.value) == "unknown budget period 'year'"


@pytest.mark.parametrize("text, nano", [("50", 50 * 10**9), ("0.000000001", 1), ("0", 0), ("1.5", 1_500_000_000)])
def test_parse_usd(text, nano):
    assert rules.parse_usd(text) == nano


@pytest.mark.parametrize("text", ["-1", "abc", "0.0000000001", "inf", "nan"])
def test_parse_usd_refuses(text):
    with pytest.raises(ValueError):
        rules.parse_usd(text)


@pytest.mark.parametrize("text, message", [
    ("abc", "budget must be a number of USD, got 'abc'"),
    ("-1", "budget must be >= 0 USD, got '-1'"),
    ("0.0000000001", "budget has more than 9 decimals: '0.0000000001'"),
])
def test_parse_usd_refusal_texts(text, message):
    with pytest.raises(ValueError) as refused:
        rules.parse_usd(text)
    assert str(refused.value) == message


def test_a_budget_fits_the_counters():
    assert rules.parse_budget("1000000000") == 10**18
    for text in ("1000000000.000000001", "1e309", "9223372037"):
        with pytest.raises(ValueError, match="at most 1000000000 USD"):
            rules.parse_budget(text)


def test_costs_round_up_to_the_next_nano_dollar():
    assert rules.to_nano(Decimal("0.0000000011")) == 2
    assert rules.to_nano("0.000001") == 1000
    assert rules.to_usd(1500) == Decimal("0.0000015")


@pytest.mark.parametrize("body, want", [
    ({"max_tokens": 100}, 100),
    ({"max_completion_tokens": 50}, 50),
    ({"max_output_tokens": 70}, 70),
    ({"generationConfig": {"maxOutputTokens": 30}}, 30),
    ({"max_tokens": 10, "max_completion_tokens": 90}, 90),  # the larger: never under-estimate
    ({"max_tokens": 0}, 0),  # an explicit zero is a bound, not a missing field
    ({"generationConfig": {"maxOutputTokens": 0}}, 0),
    ({"max_tokens": -1}, 4096),
    ({"max_tokens": True}, 4096),
    ({"max_tokens": "100"}, 4096),
    ({}, 4096),
    (None, 4096),
])
def test_output_bound(body, want):
    assert rules.output_bound(body, 4096) == want


def test_admit_rule_is_inclusive_at_the_limit():
    assert rules.admits(100, 60, 30, 10)
    assert not rules.admits(100, 60, 30, 11)


def test_remaining_is_what_the_settled_and_held_amounts_leave_never_negative():
    assert rules.remaining_nano(100, 60, 30) == 10
    assert rules.remaining_nano(100, 0, 30) == 70
    assert rules.remaining_nano(100, 60, 50) == 0


@pytest.mark.parametrize("period, now, label", [
    ("total", ts(2026, 11, 30), "total"),
    ("month", ts(2026, 11, 30), "month 2026-11"),
    ("week", ts(2027, 1, 1), "week 2026-W53"),
    ("day", ts(2026, 12, 1), "day 2026-12-01"),
])
def test_period_label(period, now, label):
    assert rules.period_label(period, rules.period_bounds(period, now)[0]) == label
