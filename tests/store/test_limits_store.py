import itertools
import math
import sqlite3
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.limits_reference import Model

from aispendtrack.store import limits as store
from aispendtrack.store import open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack.limits.window import Usage, millis_until


def ep(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


T0 = ep(2026, 11, 26, 9, 0, 0)
_ids = itertools.count()


@pytest.fixture(scope="module")
def mdb(tmp_path_factory):
    """One store for the module; each test / example uses fresh key and account ids."""
    path = tmp_path_factory.mktemp("limits") / "limits.db"
    open_store(path).close()
    with open_store(path) as db, pytest.MonkeyPatch.context() as mp:  # opened again: migrated once
        # prune aggressively so the property tests cover pruning too
        mp.setattr(store, "PRUNE_KEY_EVERY", 2)
        mp.setattr(store, "PRUNE_ALL_EVERY", 5)
        mp.setattr(store, "PRUNE_MARGIN", 0.0)
        yield db


@pytest.fixture()
def db(tmp_path):
    with open_store(tmp_path / "t.db") as opened:
        yield opened


def sql(db, statement):
    with db.connection() as conn:
        return conn.execute(statement).fetchall()


def fresh():
    n = next(_ids)
    return f"key_{n:012x}", 10_000 + n


def cc(db, key, acct, h, m, now):
    return db.admit(Admission(key, acct, h, m, now))


steps = (
    st.floats(min_value=0, max_value=1200, allow_nan=False)
    | st.floats(min_value=0, max_value=3, allow_nan=False)
    | st.sampled_from([0.0, 1.0, 3600.0, 86_400.0 * 20])
)
starts = st.sampled_from(
    [T0, ep(2026, 12, 31, 23, 30), ep(2028, 2, 29, 23, 59, 50), ep(2027, 2, 28, 23)]
) | st.floats(min_value=1.2e9, max_value=2.1e9)


@settings(max_examples=400, deadline=None)
@given(
    start=starts,
    deltas=st.lists(steps, min_size=1, max_size=40),
    hourly=st.integers(min_value=0, max_value=5) | st.none(),
    monthly=st.integers(min_value=0, max_value=8) | st.none(),
)
def test_store_matches_reference(mdb, start, deltas, hourly, monthly):
    key, acct = fresh()
    model = Model(hourly=hourly, monthly=monthly)
    now = start
    for delta in deltas:
        now = now + delta
        d = cc(mdb, key, acct, hourly, monthly, now)
        admitted, which, retry_after, should_retry = model.request(now)
        assert (d.admitted, d.limit, d.retry_after, d.should_retry) == (
            admitted, which, retry_after, should_retry,
        )
        u = mdb.usage(key_id=key, account=acct, now=now)
        assert u.hourly_count == model.in_hour(now)
        assert u.monthly_count == model.months.get(u.month, 0)
        if hourly is not None:
            used = model.in_hour(now)
            assert d.hourly_remaining == max(0, hourly - used)
        if monthly is not None:
            assert d.monthly_remaining == max(0, monthly - u.monthly_count)
            assert d.monthly_reset == store.month_bounds(now)[2]


@settings(max_examples=100, deadline=None)
@given(
    start=starts,
    deltas=st.lists(st.floats(min_value=0, max_value=900), min_size=1, max_size=12),
    hourly=st.integers(min_value=1, max_value=4),
    at_retry_at=st.booleans(),
)
def test_retry_after_exact_in_store(mdb, start, deltas, hourly, at_retry_at):
    """Denied at now -> denied at now + retry_after - 1 and just before retry_at; admitted
    at retry_at and at now + retry_after; retry-after-ms agrees with retry_after."""
    key, acct = fresh()
    now = start
    for delta in deltas:
        now += delta
        d = cc(mdb, key, acct, hourly, None, now)
        if d.admitted:
            continue
        assert d.retry_after >= 1 and d.hourly_remaining == 0 and d.hourly_reset == d.retry_at
        assert math.ceil(millis_until(now, d.retry_at) / 1000) == d.retry_after
        if d.retry_after > 1:
            early = cc(mdb, key, acct, hourly, None, now + d.retry_after - 1)
            assert not early.admitted and early.limit == "hourly"
        assert not cc(mdb, key, acct, hourly, None, math.nextafter(d.retry_at, 0)).admitted
        assert cc(mdb, key, acct, hourly, None, d.retry_at if at_retry_at else now + d.retry_after).admitted
        return


def test_window_boundary_is_half_open_in_store(db):
    t = T0 + 0.25
    assert cc(db, "key_w", 1, 1, None, t).admitted
    assert not cc(db, "key_w", 1, 1, None, math.nextafter(t + 3600, 0)).admitted
    assert cc(db, "key_w", 1, 1, None, t + 3600).admitted


def test_sub_second_wait_rounds_up_to_one(db):
    assert cc(db, "key_s", 1, 1, None, T0).admitted
    d = cc(db, "key_s", 1, 1, None, T0 + 3599.625)
    assert (d.admitted, d.retry_after, d.retry_at) == (False, 1, T0 + 3600)


def test_lowered_limit_waits_for_the_event_that_keeps_the_window_full(db):
    for i in range(3):
        assert cc(db, "key_l", 1, 3, None, T0 + 600 * i).admitted
    assert cc(db, "key_l", 1, 3, None, T0 + 1800).retry_after == 1800
    assert cc(db, "key_l", 1, 2, None, T0 + 1800).retry_after == 2400  # the second must leave too


def test_admitted_remaining_and_reset(db):
    assert cc(db, "key_ar", 1, 5, None, T0).admitted and cc(db, "key_ar", 1, 5, None, T0 + 10).admitted
    d = cc(db, "key_ar", 1, 5, None, T0 + 20)
    assert (d.admitted, d.hourly_remaining, d.hourly_reset) == (True, 2, T0 + 3600)
    d = cc(db, "key_ar2", 1, 5, None, T0 + 20)
    assert (d.hourly_remaining, d.hourly_reset) == (4, T0 + 3620)


def test_hourly_retry_after_and_headers_fields(db):
    key, acct = "key_ab12", 1
    for i in range(3):
        assert cc(db, key, acct, 3, None, T0 + 600 * i).admitted
    d = cc(db, key, acct, 3, None, T0 + 1800.5)
    assert (d.admitted, d.limit, d.should_retry) == (False, "hourly", True)
    assert (d.retry_after, d.retry_at) == (1800, T0 + 3600)  # not the window size
    assert (d.hourly_remaining, d.hourly_reset) == (0, T0 + 3600)
    assert not cc(db, key, acct, 3, None, T0 + 3599.999).admitted
    ok = cc(db, key, acct, 3, None, T0 + 3600)
    assert ok.admitted and ok.hourly_remaining == 0 and ok.hourly_reset == T0 + 600 + 3600


def test_denied_requests_consume_nothing(db):
    key, acct = "key_a", 7
    assert cc(db, key, acct, 1, 5, T0).admitted
    for i in range(50):
        assert not cc(db, key, acct, 1, 5, T0 + i).admitted
    u = db.usage(key_id=key, account=acct, now=T0 + 100)
    assert (u.hourly_count, u.monthly_count) == (1, 1)
    assert cc(db, key, acct, 1, 5, T0 + 3600).admitted  # window unaffected by denials


def test_monthly_exhausted_does_not_consume_hourly(db):
    acct = 8
    assert cc(db, "key_m1", acct, 10, 2, T0).admitted
    assert cc(db, "key_m2", acct, 10, 2, T0).admitted  # same account, other key
    d = cc(db, "key_m1", acct, 10, 2, T0 + 1)
    assert (d.admitted, d.limit, d.should_retry) == (False, "monthly", False)
    assert d.retry_after == math.ceil(ep(2026, 12, 1) - (T0 + 1))
    assert d.hourly_remaining == 9  # untouched, this request not counted
    assert db.usage(key_id="key_m1", now=T0 + 1).hourly_count == 1


def test_hourly_exhausted_does_not_consume_monthly(db):
    acct = 9
    assert cc(db, "key_h", acct, 1, 100, T0).admitted
    d = cc(db, "key_h", acct, 1, 100, T0 + 5)
    assert (d.limit, d.monthly_remaining) == ("hourly", 99)
    assert db.usage(account=acct, now=T0 + 5).monthly_count == 1


def test_both_deny_reports_monthly_with_the_later_wait(db):
    # 5 s before New Year the monthly quota resets, but the hourly window does not
    now = ep(2026, 12, 31, 23, 59, 55)
    assert cc(db, "key_b", 3, 1, 1, now - 100).admitted
    d = cc(db, "key_b", 3, 1, 1, now)
    assert (d.limit, d.should_retry, d.retry_after) == ("monthly", False, 3500)
    assert not cc(db, "key_b", 3, 1, 1, now + 5).admitted  # hourly still full
    assert cc(db, "key_b", 3, 1, 1, now + 3500).admitted


def test_month_boundary(db):
    last = ep(2026, 12, 31, 23, 59, 59) + 0.5
    assert cc(db, "key_y", 4, None, 1, last - 10).admitted
    d = cc(db, "key_y", 4, None, 1, last)
    assert (d.limit, d.retry_after, d.monthly_reset) == ("monthly", 1, ep(2027, 1, 1))
    assert d.month == "2026-12"
    assert cc(db, "key_y", 4, None, 1, ep(2027, 1, 1)).month == "2027-01"
    # leap February: 29 days, then March
    feb = ep(2028, 2, 29, 23, 59, 59)
    assert cc(db, "key_y", 4, None, 1, feb - 1).admitted
    d = cc(db, "key_y", 4, None, 1, feb)
    assert (d.retry_after, d.month) == (1, "2028-02")
    assert cc(db, "key_y", 4, None, 1, feb + 1).admitted


def test_blocked_limits(db):
    d = cc(db, "key_z", 5, 0, None, T0)
    assert (d.admitted, d.limit, d.retry_after, d.should_retry) == (False, "hourly", None, False)
    d = cc(db, "key_z", 5, 10, 0, T0)
    assert (d.admitted, d.limit, d.retry_after, d.should_retry) == (False, "monthly", None, False)
    with pytest.raises(ValueError):
        cc(db, "key_z", 5, -1, None, T0)
    assert db.usage(key_id="key_z", account=5, now=T0) == Usage(
        "key_z", 0, 5, "2026-11", 0
    )


def test_unlimited_still_counts(db):
    for i in range(5):
        d = cc(db, "key_u", 6, None, None, T0 + i)
        assert d.admitted and d.hourly_remaining is None and d.monthly_remaining is None
        assert d.hourly_reset is None and d.monthly_reset is None
        assert (d.key_id, d.account) == ("key_u", 6)
    u = db.usage(key_id="key_u", account=6, now=T0 + 10)
    assert (u.hourly_count, u.monthly_count) == (5, 5)


def test_clock_behind_keeps_log_ordered(db):
    assert cc(db, "key_c", 1, 2, None, T0 + 10).admitted
    assert cc(db, "key_c", 1, 2, None, T0 + 5).admitted  # other process, older clock
    rows = sql(db, "SELECT seq, ts FROM rate_events WHERE key_id='key_c' ORDER BY seq")
    assert rows == [(1, T0 + 10), (2, T0 + 10)]
    assert not cc(db, "key_c", 1, 2, None, T0 + 3609).admitted
    assert cc(db, "key_c", 1, 2, None, T0 + 3610).admitted


def test_pruning_bounds_the_table(db):
    for i in range(200):  # one request every 60 s: at most 60 in any hour
        assert cc(db, "key_p", 1, 100, None, T0 + 60 * i).admitted
    ((rows,),) = sql(db, "SELECT count(*) FROM rate_events")
    limit = 60 + (store.PRUNE_MARGIN / 60) + store.PRUNE_KEY_EVERY
    assert rows <= limit
    assert db.usage(key_id="key_p", now=T0 + 60 * 199).hourly_count == 60


def test_reset_key_and_account(db):
    for i in range(3):
        cc(db, "key_r", 2, 3, 3, T0 + i)
    assert not cc(db, "key_r", 2, 3, 3, T0 + 5).admitted
    assert db.reset_key("key_r") == 3
    d = cc(db, "key_r", 2, 3, 3, T0 + 6)
    assert d.limit == "monthly"
    assert db.reset_account(2, month="2026-10") == 0
    assert db.reset_account(2, month="2026-11") == 1
    assert cc(db, "key_r", 2, 3, 3, T0 + 7).admitted
    assert db.reset_account(2) == 1


def test_refuses_open_transaction(db):
    with db.connection() as conn:
        conn.execute("BEGIN")
        with pytest.raises(RuntimeError, match="^a write transaction cannot start inside another one$"):
            store.admit(conn, Admission("key_t", 1, 1, 1, T0))
        conn.execute("ROLLBACK")


def test_account_names_are_not_coerced(db):
    assert cc(db, "key_n1", "007", None, 1, T0).admitted
    assert cc(db, "key_n2", "7", None, 1, T0).admitted  # a different account
    assert not cc(db, "key_n1", "007", None, 1, T0).admitted


def test_a_monthly_usage_column_named_account_id_is_renamed_keeping_its_rows(tmp_path):
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("CREATE TABLE monthly_usage (account_id NOT NULL, month TEXT NOT NULL, "
                 "calls INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account_id, month)) WITHOUT ROWID")
    conn.execute("INSERT INTO monthly_usage VALUES ('acme', '2026-11', 4)")
    conn.close()
    open_store(tmp_path / "old.db").close()
    with open_store(tmp_path / "old.db") as db:  # opened again: nothing more to do
        assert db.usage(account="acme", now=T0).monthly_count == 4
        assert cc(db, "key_old", "acme", None, 5, T0).admitted
        assert not cc(db, "key_old", "acme", None, 5, T0).admitted


@pytest.mark.parametrize("hourly, monthly, name", [(-1, None, "hourly_limit"), (None, -1, "monthly_limit"),
                                                   (True, None, "hourly_limit"), (None, 2.5, "monthly_limit")])
def test_bad_limits_are_refused_by_name(db, hourly, monthly, name):
    with pytest.raises(ValueError, match=f"^{name} must be an int >= 0 or None"):
        cc(db, "key_v", 1, hourly, monthly, T0)


def test_pruning_keeps_every_event_still_in_the_window(db, monkeypatch):
    monkeypatch.setattr(store, "PRUNE_MARGIN", 300.0)  # (mdb may have set other values)
    monkeypatch.setattr(store, "PRUNE_KEY_EVERY", 32)
    for _ in range(store.PRUNE_KEY_EVERY - 1):
        assert cc(db, "key_k", 1, 100, None, T0).admitted
    assert cc(db, "key_k", 1, 100, None, T0 + 3590).admitted  # this admission prunes
    assert db.usage(key_id="key_k", now=T0 + 3595).hourly_count == store.PRUNE_KEY_EVERY
