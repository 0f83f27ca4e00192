import math
from datetime import UTC, datetime
from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from limits_reference import Model, month_of, next_month_epoch

from aispendtrack.limits.window import (
    decide,
    expiry,
    in_window,
    millis_until,
    month_bounds,
    month_key,
    next_month_start,
    seconds_until,
    window_cut,
)


def ep(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


T0 = ep(2026, 11, 26, 9, 0, 0)

# realistic epochs, sub-second resolution
steps = st.floats(min_value=0, max_value=1500, allow_nan=False, allow_infinity=False)
tiny_steps = st.floats(min_value=0, max_value=2, allow_nan=False) | st.just(0.0)
limits = st.integers(min_value=0, max_value=6) | st.none()


def timeline(start, deltas):
    out, t = [], start
    for d in deltas:
        t = t + d
        out.append(t)
    return out


@settings(max_examples=200, deadline=None)
@given(
    start=st.floats(min_value=-10_000, max_value=2.5e9, allow_nan=False) | st.just(T0),
    deltas=st.lists(steps | tiny_steps, min_size=1, max_size=40),
    limit=limits,
)
def test_decide_matches_reference(start, deltas, limit):
    model = Model(hourly=limit, monthly=None)
    admitted: list[float] = []
    for now in timeline(start, deltas):
        d = decide(admitted, limit, now)
        ok, _which, retry_after, _ = model.request(now)
        assert d.admitted == ok
        if ok:
            admitted.append(now)
            if limit is not None:
                assert d.remaining == limit - model.in_hour(now)
        elif 2**30 + 3600 < now < 2**31 - 7200:
            # retry equality is exact where float epochs are (2004-2038)
            assert d.retry_after == retry_after


@settings(max_examples=200, deadline=None)
@given(
    start=st.just(T0) | st.floats(min_value=1.2e9, max_value=2.1e9),
    deltas=st.lists(steps | tiny_steps, min_size=1, max_size=30),
    limit=st.integers(min_value=1, max_value=5),
)
def test_retry_after_is_exact(start, deltas, limit):
    admitted: list[float] = []
    for now in timeline(start, deltas):
        d = decide(admitted, limit, now)
        if d.admitted:
            admitted.append(now)
            continue
        assert d.retry_after >= 1 and d.remaining == 0 and d.reset_at == d.retry_at
        assert decide(admitted, limit, now + d.retry_after).admitted
        assert decide(admitted, limit, d.retry_at).admitted
        assert not decide(admitted, limit, math.nextafter(d.retry_at, 0)).admitted
        if d.retry_after > 1:
            assert not decide(admitted, limit, now + d.retry_after - 1).admitted
        ms = millis_until(now, d.retry_at)
        assert math.ceil(ms / 1000) == d.retry_after


def test_window_boundary_is_half_open():
    t = T0 + 0.25
    assert in_window(t, t)
    assert in_window(t, t + 3599.999999)
    assert not in_window(t, t + 3600)
    assert decide([t], 1, t + 3600).admitted
    assert not decide([t], 1, math.nextafter(t + 3600, 0)).admitted


def test_sub_second_retry_after_rounds_up_to_one():
    d = decide([T0], 1, T0 + 3599.625)
    assert (d.admitted, d.retry_after, d.retry_at) == (False, 1, T0 + 3600)
    assert millis_until(T0 + 3599.625, d.retry_at) == 375
    # 3599.6 is not a float: the epoch just below it is 400.0002 ms early -> 401 ms
    assert millis_until(T0 + 3599.6, d.retry_at) == 401


def test_retry_after_is_not_the_window_size():
    # 3 requests over 20 minutes, limit 3: next slot frees when the FIRST one expires
    events = [T0, T0 + 600, T0 + 1200]
    d = decide(events, 3, T0 + 1800)
    assert d.retry_after == 1800
    d = decide(events, 2, T0 + 1800)  # limit lowered: the second event must leave too
    assert d.retry_after == 2400


def test_limit_zero_and_unlimited():
    assert decide([], 0, T0) == decide([], 0, T0)
    d0 = decide([], 0, T0)
    assert (d0.admitted, d0.retry_after, d0.remaining) == (False, None, 0)
    du = decide([T0] * 10_000, None, T0)
    assert du.admitted and du.remaining is None and du.reset_at is None
    with pytest.raises(ValueError):
        decide([], -1, T0)


def test_admitted_remaining_and_reset():
    d = decide([T0, T0 + 10], 5, T0 + 20)
    assert (d.admitted, d.remaining, d.reset_at) == (True, 2, T0 + 3600)
    d = decide([], 5, T0 + 20)
    assert (d.remaining, d.reset_at) == (4, T0 + 3620)


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
    assert next_month_start(when) == nxt
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
