import time
from datetime import UTC, datetime

import pytest

from aispendtrack.limits.headers import rejection_headers, rejection_message, status_headers
from aispendtrack.store import open_store
from aispendtrack.store.api.traffic import Admission


def ep(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


P = "x-aispendtrack-ratelimit-"


@pytest.fixture()
def db(tmp_path):
    with open_store(tmp_path / "h.db") as store:
        yield store


def cc(db, h, m, now, key="key_ab12", acct=42):
    return db.admit(Admission(key, acct, h, m, now))


def test_status_headers_forwarded(db):
    t = ep(2026, 11, 30, 23, 0, 0) + 0.5
    d = cc(db, 1000, 10_000, t)
    assert status_headers(d) == {
        f"{P}limit-requests-hour": "1000",
        f"{P}remaining-requests-hour": "999",
        f"{P}reset-requests-hour": "3600",
        f"{P}limit-requests-month": "10000",
        f"{P}remaining-requests-month": "9999",
        f"{P}reset-requests-month": "3600",  # 59 min 59.5 s to December -> ceil
    }


def test_unlimited_is_omitted(db):
    d = cc(db, None, None, ep(2026, 11, 26))
    assert status_headers(d) == {}
    d = cc(db, 10_000, None, ep(2026, 11, 26))
    assert set(status_headers(d)) == {
        f"{P}limit-requests-hour", f"{P}remaining-requests-hour", f"{P}reset-requests-hour"
    }


def test_hourly_429(db):
    t = ep(2026, 11, 26, 9, 1, 37)
    assert cc(db, 1, None, t).admitted
    now = t + 3600 - 37 + 0.25  # 36.75 s before a slot frees
    d = cc(db, 1, None, now)
    h = rejection_headers(d)
    assert h["retry-after"] == "37"
    assert h["retry-after-ms"] == "36750"
    assert h["x-should-retry"] == "true"
    assert h[f"{P}remaining-requests-hour"] == "0"
    assert h[f"{P}reset-requests-hour"] == "37"
    assert rejection_message(d) == (
        "AiSpendTrack hourly rate limit of 1 requests per hour for key key_ab12 reached;"
        " next request admitted in 37 s (at 2026-11-26T10:01:37Z)"
    )


def test_monthly_429(db):
    now = ep(2026, 11, 30, 23, 59, 0)
    assert cc(db, 1000, 1, now - 5).admitted
    d = cc(db, 1000, 1, now)
    h = rejection_headers(d)
    assert (h["retry-after"], h["retry-after-ms"], h["x-should-retry"]) == ("60", "60000", "false")
    assert h[f"{P}remaining-requests-month"] == "0"
    assert h[f"{P}remaining-requests-hour"] == "999"
    assert rejection_message(d) == (
        "AiSpendTrack monthly limit of 1 calls per calendar month (UTC) for account 42"
        " reached for 2026-11; next request admitted in 1 min (at 2026-12-01T00:00:00Z)"
    )


def test_blocked_has_no_retry_after(db):
    d = cc(db, 0, None, ep(2026, 11, 26))
    h = rejection_headers(d)
    assert "retry-after" not in h and "retry-after-ms" not in h
    assert h["x-should-retry"] == "false"
    assert h[f"{P}limit-requests-hour"] == "0"
    assert "requests are not admitted for this key" in rejection_message(d)


def test_admitted_has_no_rejection(db):
    d = cc(db, 1, 1, ep(2026, 11, 26))
    with pytest.raises(ValueError, match=r"^rejection_headers\(\) of an admitted request$"):
        rejection_headers(d)
    with pytest.raises(ValueError, match=r"^rejection_message\(\) of an admitted request$"):
        rejection_message(d)


@pytest.mark.parametrize(
    "wait, retry_after, should_retry",
    [(59.5, "60", "true"), (60.0, "60", "true"), (60.25, "61", "false"), (61.0, "61", "false")],
)
def test_should_retry_up_to_60_seconds_inclusive(db, wait, retry_after, should_retry):
    """`x-should-retry: true` for an hourly wait of at most 60 s (ceil'd), false from 61 s."""
    t = ep(2026, 11, 26, 9, 0, 0)
    assert cc(db, 1, None, t).admitted
    h = rejection_headers(cc(db, 1, None, t + 3600 - wait))
    assert (h["retry-after"], h["x-should-retry"]) == (retry_after, should_retry)


def test_monthly_denial_with_a_blocked_key_has_no_wait(db):
    """The account's month is used up by another key and this key's hourly limit is 0: no
    wait helps, and the message says so rather than naming a time."""
    now = ep(2026, 11, 26)
    assert cc(db, None, 1, now, key="key_other").admitted
    d = cc(db, 0, 1, now + 1)
    assert (d.limit, d.retry_at) == ("monthly", None)
    assert "retry-after" not in rejection_headers(d)
    assert rejection_message(d).endswith("; calls are not admitted for this account")


def test_message_times_are_utc_whatever_the_local_zone(db, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        t = ep(2026, 11, 26, 9, 1, 37)
        assert cc(db, 1, None, t).admitted
        assert rejection_message(cc(db, 1, None, t + 100)).endswith("(at 2026-11-26T10:01:37Z)")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_free_tier_monthly_message_names_the_reset_and_the_upgrade(db):
    now = ep(2026, 11, 30, 22, 0, 0) + 0.5
    assert cc(db, 1000, 1, now - 5).admitted
    d = cc(db, 1000, 1, now)
    base = ("AiSpendTrack monthly limit of 1 calls per calendar month (UTC) for account 42"
            " reached for 2026-11; next request admitted in 2 h (at 2026-12-01T00:00:00Z)")
    assert rejection_message(d, tier="free") == base + (
        ": the month resets at 2026-12-01T00:00:00Z; wait until then, or upgrade the account's"
        " tier to lift this limit"
    )
    assert rejection_message(d, tier="pro") == base
    assert rejection_message(d) == base


def test_free_tier_hourly_message_has_no_upgrade_hint(db):
    t = ep(2026, 11, 26, 9, 1, 37)
    assert cc(db, 1, 5, t).admitted
    d = cc(db, 1, 5, t + 100)
    assert rejection_message(d, tier="free") == (
        "AiSpendTrack hourly rate limit of 1 requests per hour for key key_ab12 reached;"
        " next request admitted in 58 min 20 s (at 2026-11-26T10:01:37Z)"
    )
