"""Admissions and ledger rows through the store, the same on SQLite and PostgreSQL: the
hourly window, the monthly quota, a budget's reserve-then-settle (idempotent by
reservation id), a refused admission that moves nothing, the proxy's batches, stale holds.

The clock is pinned (`T0`, and months computed with the same rules), so the tests hold on
any date."""

import time

import pytest

from aispendtrack.config import Config
from aispendtrack.limits import budget as rules
from aispendtrack.limits.window import month_bounds
from aispendtrack.store import keys
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.budgets import RESERVATION_TTL, Charge
from aispendtrack.store.ledger_schema import to_db_row
from aispendtrack.store.writer import Batch

CONFIG = Config()
T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z
NANO = 10**9
MONTH_END = month_bounds(T0)[2]


def adm(now=T0, *, hourly=None, monthly=None, charge=None, key="key_a", account="acme", digest=None):
    return Admission(key, account, hourly, monthly, now, charge, digest)


def row(ts=T0, *, cost=None, reservation=None, outcome="forwarded", key="key_a", account="acme", **more):
    return {"ts": ts, "key_id": key, "account": account, "provider": "openai", "model": "gpt-4o",
            "outcome": outcome, "cost_usd": cost, "pricing": "priced" if cost is not None else "unpriced",
            "reservation_id": reservation, **more}


def counts(store, now=T0, key="key_a", account="acme"):
    u = store.usage(key_id=key, account=account, now=now)
    return u.hourly_count, u.monthly_count


def held(store, scope="key", subject="key_a", now=T0):
    s = store.budget_standing(store.get_budget(scope, subject), now=now)
    return s.spent_nano, s.reserved_nano, s.overshoot_nano


def test_the_hourly_window_admits_its_limit_then_says_when(store):
    decisions = [store.admit(adm(T0 + i, hourly=3)) for i in range(3)]
    assert [d.admitted for d in decisions] == [True] * 3
    assert [d.hourly_remaining for d in decisions] == [2, 1, 0]
    refused = store.admit(adm(T0 + 10, hourly=3))
    assert (refused.admitted, refused.limit, refused.should_retry) == (False, "hourly", True)
    assert (refused.retry_at, refused.retry_after, refused.hourly_remaining) == (T0 + 3600, 3590, 0)
    assert counts(store, T0 + 10) == (3, 3)  # the refusal counted nothing
    assert store.admit(adm(T0 + 3599.5, hourly=3)).admitted is False
    assert store.admit(adm(T0 + 3600, hourly=3)).admitted is True  # the first call left the window
    assert counts(store, T0 + 3600) == (3, 4)
    assert store.admit(adm(T0 + 3600, hourly=0)).retry_after is None  # 0 blocks
    assert store.reset_key("key_a") == 4
    assert counts(store, T0 + 3600) == (0, 4)


def test_a_lagging_clock_never_lets_the_window_hold_more(store):
    assert store.admit(adm(T0 + 100, hourly=2)).admitted
    late = store.admit(adm(T0, hourly=2))  # another gateway, 100 s behind
    assert late.admitted and late.hourly_reset == T0 + 100 + 3600  # recorded at the newest time
    assert store.admit(adm(T0 + 3650, hourly=2)).admitted is False  # both still in the window
    assert store.admit(adm(T0 + 3700, hourly=2)).admitted is True


def test_the_monthly_quota_refuses_until_next_month(store):
    assert [store.admit(adm(T0 + i, monthly=2)).admitted for i in range(2)] == [True, True]
    refused = store.admit(adm(T0 + 5, monthly=2))
    assert (refused.admitted, refused.limit, refused.should_retry, refused.retry_at) == (False, "monthly", False, MONTH_END)
    assert (refused.month, refused.monthly_remaining, refused.monthly_reset) == ("2026-11", 0, MONTH_END)
    assert counts(store, T0 + 5) == (2, 2)
    nxt = store.admit(adm(MONTH_END, monthly=2))
    assert nxt.admitted and nxt.month == "2026-12" and nxt.monthly_remaining == 1
    assert store.reset_account("acme", "2026-11") == 1
    assert counts(store, T0 + 5)[1] == 0
    assert store.reset_account("acme") == 1


def test_both_limits_refusing_reports_the_later_wait(store):
    store.admit(adm(MONTH_END - 100, hourly=1, monthly=1))
    refused = store.admit(adm(MONTH_END - 50, hourly=1, monthly=1))
    assert (refused.limit, refused.retry_at) == ("monthly", MONTH_END - 100 + 3600)


def test_a_budget_is_held_then_settled_once_by_reservation_id(store):
    budget = store.set_budget("key", "key_a", "1", "day", now=T0)
    assert budget == rules.Budget("key", "key_a", NANO, "day", T0)
    assert store.budgeted_subjects() == {("key", "key_a")}
    charge = Charge(400_000_000)
    first = store.admit(adm(charge=charge))
    second = store.admit(adm(T0 + 1, charge=charge))
    assert first.admitted and second.admitted and first.budget.id != second.budget.id
    assert first.budget.tightest.remaining_nano == 600_000_000
    assert held(store) == (0, 800_000_000, 0)
    refused = store.admit(adm(T0 + 2, hourly=10, monthly=10, charge=charge))
    assert (refused.admitted, refused.limit, refused.should_retry) == (False, "budget", False)
    assert refused.retry_at == T0 - 9 * 3600 + 86400  # the next UTC midnight
    assert refused.budget.refused_by.remaining_nano == 200_000_000
    assert held(store) == (0, 800_000_000, 0) and counts(store) == (2, 2)  # nothing moved
    store.record([row(cost="0.1", reservation=first.budget.id)])
    assert held(store) == (100_000_000, 400_000_000, 0)
    store.record([row(cost="0.1", reservation=first.budget.id)])  # the same call's row again
    assert held(store) == (100_000_000, 400_000_000, 0)
    store.record([row(cost="0.7", reservation=second.budget.id)])  # cost more than its bound
    assert held(store) == (800_000_000, 0, 300_000_000)
    assert store.admit(adm(T0 + 3, charge=Charge(200_000_000))).admitted
    assert not store.admit(adm(T0 + 4, charge=Charge(1))).admitted


def test_a_hold_outside_an_admission_counts_no_call_and_is_forced_only_when_asked(store):
    store.set_budget("account", "acme", "1", "month", now=T0)
    first = store.hold_budget("key_a", "acme", Charge(1), T0)
    assert first.id and first.refused_by is None
    assert counts(store) == (0, 0)  # a Realtime response is not a call of its own
    store.record([row(cost="0.6", reservation=first.id)])
    assert held(store, "account", "acme") == (600_000_000, 0, 600_000_000 - 1)
    second = store.hold_budget("key_a", "acme", Charge(1), T0 + 1)
    store.record([row(T0 + 1, cost="0.6", reservation=second.id)])  # over the budget now
    refused = store.hold_budget("key_a", "acme", Charge(1), T0 + 2)
    assert refused.id is None and refused.refused_by.budget.subject == "acme"
    assert held(store, "account", "acme") == (1_200_000_000, 0, 1_200_000_000 - 2)  # nothing moved
    started = store.hold_budget("key_a", "acme", Charge(0), T0 + 3, force=True)  # the provider started it
    assert started.id is not None
    store.record([row(T0 + 3, cost="0.25", reservation=started.id)])
    assert held(store, "account", "acme")[:2] == (1_450_000_000, 0)
    assert store.hold_budget("key_b", "other", Charge(1), T0).id is None  # no budget: nothing to hold


def test_an_aborted_call_without_usage_is_charged_its_whole_hold(store):
    store.set_budget("account", "acme", "10", "month", now=T0)
    hold = store.admit(adm(charge=Charge(2 * NANO))).budget.id
    store.record([row(reservation=hold, outcome="aborted")])
    assert held(store, "account", "acme") == (2 * NANO, 0, 0)
    error = store.admit(adm(charge=Charge(2 * NANO))).budget.id
    store.record([row(reservation=error, outcome="upstream_error", status=500)])
    assert held(store, "account", "acme") == (2 * NANO, 0, 0)  # an error answer is not billed


def test_a_tier_default_budget_applies_without_a_row_and_counts_the_ledger_first(store):
    store.record([row(T0 - 60, cost="4.5")])
    tier = rules.Budget("account", "acme", 5 * NANO, "month", 0.0)
    assert store.admit(adm(charge=Charge(NANO // 2, tier))).admitted
    refused = store.admit(adm(charge=Charge(1, tier)))
    assert (refused.limit, refused.budget.refused_by.spent_nano) == ("budget", 4_500_000_000)


def test_budgets_are_set_replaced_and_cleared(store):
    store.record([row(T0 - 60, cost="0.25"), row(T0 - 86400, cost="9")])
    store.set_budget("key", "key_a", "1", "day", now=T0)
    assert held(store) == (250_000_000, 0, 0)  # this day's spend, recounted from the ledger
    store.set_budget("key", "key_a", "20", "month", now=T0 + 5)
    assert store.get_budget("key", "key_a") == rules.Budget("key", "key_a", 20 * NANO, "month", T0 + 5)
    assert held(store) == (9_250_000_000, 0, 0)
    assert store.clear_budget("key", "key_a") is True
    assert store.clear_budget("key", "key_a") is False
    assert store.get_budget("key", "key_a") is None and store.budgeted_subjects() == set()
    with pytest.raises(ValueError, match="budget scope must be account or key, got 'team'"):
        store.set_budget("team", "x", "1", "day", now=T0)
    with pytest.raises(ValueError, match="unknown budget period 'year'"):
        store.set_budget("key", "key_a", "1", "year", now=T0)


def test_stale_holds_are_released_once_and_a_late_row_overshoots(store):
    store.set_budget("key", "key_a", "1", "total", now=T0)
    hold = store.admit(adm(charge=Charge(600_000_000))).budget.id
    assert store.expire_holds(T0 + RESERVATION_TTL - 1) == 0
    assert store.expire_holds(T0 + RESERVATION_TTL + 1) == 1
    assert store.expire_holds(T0 + RESERVATION_TTL + 2) == 0  # never twice
    assert held(store) == (0, 0, 0)
    store.record([row(cost="0.5", reservation=hold)])
    assert held(store) == (500_000_000, 0, 500_000_000)


def test_a_presented_secret_that_no_longer_works_is_refused_in_the_admission(store):
    store.create_account("acme", "pro")
    new = store.create_key("acme", CONFIG)
    digest = keys.digest(new.key)
    now = time.time() + 1  # key changes are stamped with the real clock
    assert store.admit(adm(now, key=new.id, digest=digest, hourly=5)).admitted
    store.rotate_key(new.id, Config.model_validate({"keys": {"rotation_grace_seconds": 0}}))
    refused = store.admit(adm(now + 1, key=new.id, digest=digest, hourly=5))
    assert (refused.admitted, refused.limit) == (False, "key") and "rotated out" in refused.reason
    store.revoke_key(new.id)
    assert "was revoked" in store.admit(adm(now + 2, key=new.id, digest=digest)).reason
    assert "was deleted" in store.admit(adm(now + 3, key=new.id, digest="0" * 64)).reason
    assert counts(store, now + 3, key=new.id) == (1, 1)


def test_a_proxy_batch_admits_records_touches_and_publishes(store):
    store.create_account("acme", "pro")
    new = store.create_key("acme", CONFIG)
    store.set_budget("key", new.id, "1", "total", now=T0)
    first = store.admit(adm(key=new.id, charge=Charge(NANO // 2))).budget.id
    now = T0 + 1
    batch = Batch(admissions=[adm(now, key=new.id, hourly=2), adm(now, key=new.id, hourly=2),
                              adm(now, key=new.id, hourly=2, charge=Charge(NANO // 4))],
                  rows=[(to_db_row(row(cost="0.2", reservation=first, key=new.id)), None),
                        (to_db_row(row(key=new.id, outcome="rate_limited", status=429)), None)],
                  touched=[new.id], touched_at="2026-11-26T09:00:01.000000Z",
                  presence=("gw1", 4242, "host", T0, now, 3))
    result = store.write(batch)
    assert [d.admitted for d in result.decisions] == [True, False, False]
    assert [d.limit for d in result.decisions[1:]] == ["hourly", "hourly"]
    assert len(result.ids) == 2 and all(isinstance(i, int) for i in result.ids) and result.failed == []
    assert held(store, subject=new.id) == (200_000_000, 0, 0)
    assert store.get_key(new.id).last_used == "2026-11-26T09:00:01.000000Z"
    assert store.inflight(now + 1) == 3
    store.presence_gone("gw1", now + 2)
    assert store.inflight(now + 2) is None


def test_a_row_the_store_refuses_fails_alone(store):
    (rid,) = store.record([row(cost="0.1")])
    batch = Batch(rows=[(to_db_row(row(cost="0.2")), None), (to_db_row(row(cost="0.3", id=rid)), None),
                        (to_db_row(row(cost="0.4")), None)])
    result = store.write(batch)
    assert result.ids[0] is not None and result.ids[1] is None and result.ids[2] is not None
    assert len(result.failed) == 1 and result.failed[0][0][0]["cost_usd"] == "0.3"
    store.set_budget("account", "acme", "5", "total", now=T0)
    assert held(store, "account", "acme") == (700_000_000, 0, 0)  # 0.1 + 0.2 + 0.4: the refused row is not there


def test_a_value_of_the_wrong_type_is_stored_alike_on_both_engines(store):
    """SQLite would keep text in a number column and 12.5 in a token count; PostgreSQL would
    refuse the row, or round the count: the store keeps the row and stores NULL, named."""
    ids = store.record([
        row(status="oops", input_tokens=12.5, latency_ms="fast"),
        row(status="200", input_tokens=12.0, output_tokens="7", latency_ms="12.5", ttfb_ms=float("nan")),
    ])
    with store.connection() as conn:
        got = conn.rows("SELECT status, input_tokens, output_tokens, latency_ms, ttfb_ms, error FROM calls"
                        " ORDER BY id")
    assert len(ids) == 2
    assert got == [
        {"status": None, "input_tokens": None, "output_tokens": None, "latency_ms": None, "ttfb_ms": None,
         "error": "not a number, stored as null: status, input_tokens, latency_ms"},
        {"status": 200, "input_tokens": 12, "output_tokens": 7, "latency_ms": 12.5, "ttfb_ms": None,
         "error": "not a number, stored as null: ttfb_ms"},
    ]
