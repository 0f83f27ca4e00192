"""Tier defaults and per-account overrides → the two limits `check_and_count` takes.

``accounts.requests_per_hour`` / ``accounts.monthly_calls``: NULL = tier default,
-1 = unlimited, n >= 0 = n (0 blocks). ``None`` in Python means unlimited.
"""

from __future__ import annotations

from typing import NamedTuple


class Limits(NamedTuple):
    hourly: int | None  # requests per hour per key id
    monthly: int | None  # calls per calendar month (UTC) per account


TIER_DEFAULTS: dict[str, Limits] = {
    "free": Limits(hourly=1_000, monthly=10_000),
    "pro": Limits(hourly=10_000, monthly=None),
    "enterprise": Limits(hourly=None, monthly=None),
}


def _override(value: int | None, default: int | None, column: str) -> int | None:
    if value is None:
        return default
    if value == -1:
        return None
    if value < 0:
        raise ValueError(f"accounts.{column} must be NULL, -1 or >= 0, got {value}")
    return value


def resolve_limits(
    tier: str, requests_per_hour: int | None = None, monthly_calls: int | None = None
) -> Limits:
    """The effective limits of an account (raises `ValueError` for an unknown tier)."""
    try:
        default = TIER_DEFAULTS[tier]
    except KeyError:
        raise ValueError(
            f"unknown tier {tier!r} (expected one of {', '.join(TIER_DEFAULTS)})"
        ) from None
    return Limits(
        _override(requests_per_hour, default.hourly, "requests_per_hour"),
        _override(monthly_calls, default.monthly, "monthly_calls"),
    )
