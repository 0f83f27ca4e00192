"""The webhook events the store's `admit` queues in its transaction, exactly:
`quota.monthly_threshold` at 80 % and 100 % of the monthly quota (once each per month),
`limit.hourly_reached` on a key's first refusal in an hour, and the `webhook_alerts` rows
that keep each one to once per period."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from aispendtrack.store import open_store
from aispendtrack.store.api.traffic import Admission

T0 = datetime(2026, 11, 26, 9, 0, 0, tzinfo=UTC).timestamp()


def stamp(seconds: int) -> str:
    """The payload timestamp of an event queued at T0 + seconds."""
    return (datetime(2026, 11, 26, 9, 0, 0) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


@pytest.fixture()
def db(tmp_path):
    with open_store(tmp_path / "events.db") as store:
        store.create_account("acme", "pro")
        store.add_endpoint("acme", "http://127.0.0.1:9/hook", None)  # every event
        yield store


def cc(db, key, hourly, monthly, now):
    return db.admit(Admission(key, "acme", hourly, monthly, now))


def sql(db, statement):
    with db.connection() as conn:
        return conn.execute(statement).fetchall()


def events(db) -> list[dict]:
    return [{"row_type": t, **json.loads(p)}
            for t, p in sql(db, "SELECT type, payload FROM webhook_messages ORDER BY rowid")]


def alerts(db) -> list[tuple]:
    return sql(db, "SELECT scope, kind, period, ts FROM webhook_alerts ORDER BY ts, kind")


def quota(seconds, percent, limit, used):
    return {"row_type": "quota.monthly_threshold", "type": "quota.monthly_threshold", "timestamp": stamp(seconds),
            "data": {"account": "acme", "month": "2026-11", "threshold_percent": percent, "limit": limit,
                     "used": used}}


def hourly(seconds, limit, retry_after):
    return {"row_type": "limit.hourly_reached", "type": "limit.hourly_reached", "timestamp": stamp(seconds),
            "data": {"account": "acme", "key_id": "key_h", "limit": limit, "retry_after_seconds": retry_after}}


@pytest.mark.parametrize("limit, reached", [
    (10, [(80, 8), (100, 10)]),
    (7, [(80, 6), (100, 7)]),  # 80 % of 7 is 5.6: the sixth call reaches it
    (1, [(100, 1)]),  # 80 % and 100 % are the same call: one event, 100 %
])
def test_quota_thresholds_once_each_at_the_admission_that_reaches_them(db, limit, reached):
    for i in range(limit + 3):  # the refusals after the quota is used add nothing
        cc(db, "key_q", None, limit, T0 + i)
    assert events(db) == [quota(used - 1, percent, limit, used) for percent, used in reached]
    assert alerts(db) == [("acme", f"quota.monthly_threshold.{percent}", "2026-11", T0 + used - 1)
                          for percent, used in reached]


def test_quota_lowered_below_the_calls_used_is_reported_at_the_refusal(db):
    for i in range(10):
        assert cc(db, "key_q", None, 20, T0 + i).admitted  # 16 would be 80 %: not reached
    assert events(db) == []
    assert not cc(db, "key_q", None, 5, T0 + 30).admitted
    assert not cc(db, "key_q", None, 5, T0 + 31).admitted
    assert events(db) == [quota(30, 100, 5, 10)]
    assert alerts(db) == [("acme", "quota.monthly_threshold.100", "2026-11", T0 + 30)]


def test_quota_of_zero_blocks_without_an_event(db):
    assert not cc(db, "key_q", None, 0, T0).admitted
    assert events(db) == [] and alerts(db) == []


def test_hourly_refusal_queues_limit_reached_once_and_no_quota_event(db):
    assert cc(db, "key_h", 1, 100, T0).admitted
    for i in range(1, 5):
        d = cc(db, "key_h", 1, 100, T0 + i)
        assert (d.admitted, d.limit) == (False, "hourly")
    assert events(db) == [hourly(1, 1, 3599)]
    assert alerts(db) == [("key_h", "limit.hourly_reached", "", T0 + 1)]


def test_limit_reached_again_exactly_an_hour_after_the_last_one(db):
    assert cc(db, "key_h", 1, None, T0).admitted
    assert not cc(db, "key_h", 1, None, T0 + 1).admitted  # event; next one from T0 + 3601
    assert cc(db, "key_h", 1, None, T0 + 3600).admitted
    assert not cc(db, "key_h", 1, None, T0 + 3600.5).admitted  # 1 s to wait: no event yet
    assert not cc(db, "key_h", 1, None, T0 + 3601).admitted
    assert events(db) == [hourly(1, 1, 3599), hourly(3601, 1, 3599)]
    assert alerts(db) == [("key_h", "limit.hourly_reached", "", T0 + 3601)]


def test_hourly_limit_of_zero_reaches_with_no_retry_time(db):
    d = cc(db, "key_h", 0, None, T0)
    assert (d.admitted, d.limit, d.retry_after, d.should_retry) == (False, "hourly", None, False)
    assert events(db) == [hourly(0, 0, None)]


def test_monthly_refusal_is_not_an_hourly_event(db):
    assert cc(db, "key_h", 5, 1, T0).admitted
    assert not cc(db, "key_h", 5, 1, T0 + 1).admitted
    assert events(db) == [quota(0, 100, 1, 1)]

