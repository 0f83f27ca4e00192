import math
from datetime import UTC, datetime
from fractions import Fraction as F

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.limits_reference import month_of, next_month_epoch

from aispendtrack.limits.window import (
    expiry,
    millis_until,
    month_bounds,
    month_key,
    month_start,
    next_month_start,
    reset_seconds,
    seconds_until,
    window_cut,
)


def ep(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


T0 = ep(2026, 11, 26, 9, 0, 0)


def test_window_boundary_is_half_open():
    """An event at t counts while now < t + 3600 and stops counting at exactly t + 3600."""
    t = T0 + 0.25
    assert t > window_cut(t) and t > window_cut(t + 3599.999999)
    assert not t > window_cut(t + 3600)
    assert expiry(t) == t + 3600


def test_sub_second_waits_round_up():
    assert (seconds_until(T0 + 3599.625, T0 + 3600), millis_until(T0 + 3599.625, T0 + 3600)) == (1, 375)
    # 3599.6 is not a float: the epoch just below it is 400.0002 ms early -> 401 ms
    assert millis_until(T0 + 3599.6, T0 + 3600) == 401


def test_window_cut_outside_the_exact_range():
    # after 2038-01-19 (2**31 s): now - 3600 is still exact, so it is the cut itself
    assert window_cut(2.0**31 + 0.5) == 2.0**31 - 3599.5
    assert window_cut(1000.0) == -2600.0
    # 0.3 - 3600 rounds up past the real value: the cut is the float just below it, so an
    # event at that float (real age < 3600 s) still counts
    c = 0.3 - 3600
    assert F(c) > F(0.3) - 3600
    assert window_cut(0.3) == math.nextafter(c, -math.inf)
    assert c > window_cut(0.3)


def test_reset_seconds_zero_when_reset():
    assert reset_seconds(T0, None) == 0
    assert reset_seconds(T0, T0) == 0  # resetting right now: already reset
    assert reset_seconds(T0, T0 - 5) == 0
    assert reset_seconds(T0, T0 + 0.25) == 1
    assert reset_seconds(T0, T0 + 3600) == 3600


def test_millis_until_floor_is_one():
    assert millis_until(T0, T0) == 1
    assert millis_until(T0, T0 - 5) == 1
    assert millis_until(T0, T0 + 2.0**-10) == 1  # 0.977 ms
    assert millis_until(T0, T0 + 2.0**-9) == 2  # 1.95 ms


@given(
    ts=st.floats(min_value=-1e10, max_value=1e10, allow_nan=False),
    now=st.floats(min_value=-1e10, max_value=1e10, allow_nan=False),
)
def test_cut_and_expiry_are_exact(ts, now):
    assert (ts > window_cut(now)) == (F(ts) + 3600 > F(now))
    e = expiry(ts)
    assert F(e) >= F(ts) + 3600 > F(math.nextafter(e, -math.inf))


@given(
    now=st.floats(min_value=1e9, max_value=2e9),
    delta=st.floats(min_value=1e-6, max_value=4e6),
)
def test_seconds_and_millis_consistent(now, delta):
    at = now + delta
    if at <= now:
        return
    s, ms = seconds_until(now, at), millis_until(now, at)
    assert s >= 1 and ms >= 1 and math.ceil(ms / 1000) == s
    assert F(now) + s >= F(at) and (s == 1 or F(now) + s - 1 < F(at))


@pytest.mark.parametrize(
    "when, key, start, nxt",
    [
        (ep(2026, 11, 26, 10, 1, 37), "2026-11", ep(2026, 11, 1), ep(2026, 12, 1)),
        (ep(2026, 12, 31, 23, 59, 59) + 0.999999, "2026-12", ep(2026, 12, 1), ep(2027, 1, 1)),
        (ep(2027, 1, 1), "2027-01", ep(2027, 1, 1), ep(2027, 2, 1)),
        (ep(2028, 2, 29, 12), "2028-02", ep(2028, 2, 1), ep(2028, 3, 1)),  # leap
        (ep(2028, 2, 29, 23, 59, 59) + 0.5, "2028-02", ep(2028, 2, 1), ep(2028, 3, 1)),
        (ep(2027, 2, 28, 23, 59, 59), "2027-02", ep(2027, 2, 1), ep(2027, 3, 1)),
        (ep(2027, 3, 1), "2027-03", ep(2027, 3, 1), ep(2027, 4, 1)),
        (ep(2026, 4, 30, 23, 59, 59), "2026-04", ep(2026, 4, 1), ep(2026, 5, 1)),  # 30 days
    ],
)
def test_months(when, key, start, nxt):
    assert month_key(when) == key
    assert month_bounds(when) == (key, start, nxt)
    assert month_start(when) == start and next_month_start(when) == nxt
    # the cache must not leak a neighbouring month
    assert month_key(nxt) != key and month_key(math.nextafter(start, 0)) != key


def test_last_microsecond_is_old_month():
    nxt = ep(2027, 1, 1)
    just_before = math.nextafter(nxt, 0)
    assert month_key(just_before) == "2026-12"
    assert seconds_until(just_before, next_month_start(just_before)) == 1
    assert month_key(nxt) == "2027-01"


@given(st.floats(min_value=0, max_value=4e9))
def test_months_match_datetime(t):
    assert month_key(t) == month_of(t)
    assert next_month_start(t) == next_month_epoch(t)
    key, start, nxt = month_bounds(t)
    assert start <= t < nxt
