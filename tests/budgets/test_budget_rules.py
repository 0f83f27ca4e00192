"""Budget periods (UTC day, ISO week, calendar month, total), money units, the admit rule."""

import calendar
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
    ("month", ts(2026, 11, 30, 23, 59, 59) + 0.5, "m2026-11", ts(2026, 11, 1), ts(2026, 12, 1)),
    ("month", ts(2026, 12, 1), "m2026-12", ts(2026, 12, 1), ts(2027, 1, 1)),
    ("month", ts(2028, 2, 29, 12), "m2028-02", ts(2028, 2, 1), ts(2028, 3, 1)),
    ("total", ts(2026, 11, 30), "t", 0.0, None),
])
def test_period_bounds(period, now, key, start, end):
    assert rules.period_bounds(period, now) == (key, start, end)


def test_reset_seconds_ceil_and_total():
    assert rules.reset_seconds("day", ts(2026, 11, 30, 23, 59, 59) + 0.25) == 1
    assert rules.reset_seconds("week", ts(2026, 11, 30)) == 7 * 86400
    assert rules.reset_seconds("total", ts(2026, 11, 30)) is None


def test_unknown_period_is_refused():
    with pytest.raises(ValueError, match="unknown budget period 'year'"):
        rules.check_period("year")


@pytest.mark.parametrize("text, nano", [("50", 50 * 10**9), ("0.000000001", 1), ("0", 0), ("1.5", 1_500_000_000)])
def test_parse_usd(text, nano):
    assert rules.parse_usd(text) == nano


@pytest.mark.parametrize("text", ["-1", "abc", "0.0000000001", "inf", "nan"])
def test_parse_usd_refuses(text):
    with pytest.raises(ValueError):
        rules.parse_usd(text)


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
