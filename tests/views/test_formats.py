"""The one way money, durations and times are written (views/formats.py)."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aispendtrack.views.formats import fmt_clock, fmt_duration, fmt_time, fmt_usd

MONEY = st.decimals(min_value=Decimal("-1e7"), max_value=Decimal("1e7"), allow_nan=False, allow_infinity=False,
                    places=9)


def parse(text: str) -> Decimal:
    sign = -1 if text.startswith("-") else 1
    return sign * Decimal(text.lstrip("-").removeprefix("$").replace(",", ""))


@pytest.mark.parametrize("value, text", [
    (Decimal("0.0042"), "$0.0042"), (Decimal("0.00237"), "$0.00237"), (Decimal("0.043377"), "$0.0434"),
    (Decimal("0.08386755"), "$0.0839"), (Decimal("1"), "$1.00"), (Decimal("12.345"), "$12.35"),
    (Decimal("0.1"), "$0.10"), (Decimal("0.999"), "$0.999"), (Decimal("0.9996"), "$1.00"), (0, "$0.00"),
    ("-0.0042", "-$0.0042"), ("1000000", "$1,000,000.00"),
])  # fmt: skip
def test_money(value, text):
    assert fmt_usd(value) == text


@given(MONEY)
def test_money_keeps_the_sign_and_at_least_cents(value):
    text = fmt_usd(value)
    assert text.startswith("-$" if value < 0 else "$")
    assert len(text.split(".")[1]) >= 2  # never fewer than cents
    shown = parse(text)
    if abs(value) >= 1:  # cents from a dollar up
        assert abs(shown - value) <= Decimal("0.005")
    elif value != 0:  # three significant digits below
        assert abs(shown - value) <= abs(value) * Decimal("0.005") + Decimal("1e-12")


@given(MONEY, MONEY)
def test_money_keeps_the_order(a, b):
    if a <= b:
        assert parse(fmt_usd(a)) <= parse(fmt_usd(b))


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (1, "1 s"), (42, "42 s"), (60, "1 min"), (62, "1 min 2 s"), (3599, "59 min 59 s"), (3600, "1 h"),
    (3 * 3600 + 5 * 60 + 9, "3 h 5 min"), (86_400, "1 d"), (86_400 * 24 + 7 * 3600 + 59, "24 d 7 h"),
    (2_100_560, "24 d 7 h"), (86_400 + 60, "1 d"), (12.9, "12 s"), (-5, "0 s"), (None, "—"),
])  # fmt: skip
def test_duration(seconds, text):
    assert fmt_duration(seconds) == text


@pytest.mark.parametrize("ts, text", [
    ("2026-12-07T16:30:40.123456+00:00", "2026-12-07 16:30 UTC"),
    ("2026-12-07T16:30:40Z", "2026-12-07 16:30 UTC"),
    ("2026-12-07T16:30:40", "2026-12-07 16:30 UTC"),  # stored times are UTC
    (datetime(2026, 12, 7, 17, 30, tzinfo=timezone(timedelta(hours=1))), "2026-12-07 16:30 UTC"),
    (datetime(2026, 12, 7, 16, 30, 59, tzinfo=UTC).timestamp(), "2026-12-07 16:30 UTC"),
    (None, "—"), ("", "—"),
])  # fmt: skip
def test_time(ts, text):
    assert fmt_time(ts) == text


def test_clock_and_never():
    assert fmt_clock("2026-12-07T16:30:40.9+00:00") == "16:30:40"
    assert fmt_time(None, none="never") == "never"
