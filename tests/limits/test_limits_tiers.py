import pytest

from aispendtrack.limits.tiers import Limits, resolve_limits


@pytest.mark.parametrize(
    "tier, rph, monthly, expected",
    [
        ("free", None, None, Limits(1000, 10_000)),
        ("pro", None, None, Limits(10_000, None)),
        ("enterprise", None, None, Limits(None, None)),
        ("enterprise", 50_000, 2_000_000, Limits(50_000, 2_000_000)),
        ("enterprise", -1, 5, Limits(None, 5)),
        ("free", -1, -1, Limits(None, None)),
        ("pro", 0, None, Limits(0, None)),
    ],
)
def test_resolve_limits(tier, rph, monthly, expected):
    assert resolve_limits(tier, rph, monthly) == expected


@pytest.mark.parametrize("tier, rph", [("gold", None), ("free", -2)])
def test_resolve_limits_errors(tier, rph):
    with pytest.raises(ValueError):
        resolve_limits(tier, rph)
