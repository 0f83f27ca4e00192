"""Exact across processes, on SQLite and PostgreSQL: several OS processes (each with
threads on connections of their own) racing against one limit, one budget, one key cap
and one outbox get exactly what the rule allows, never one more.

SQLite serialises them with its one writer; PostgreSQL with advisory locks taken in the
order key → account (`PostgresConn.tx`), and row locks on the budget counters."""

import time

from aispendtrack.store import open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.budgets import Charge

from support import racers

T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z


def test_processes_racing_for_one_hourly_limit_get_exactly_it(store_target):
    with open_store(store_target) as store:
        results = racers.race(store_target, racers.admit_many, (40, "key_shared", "acme", 250, None, T0),
                              processes=4, threads=2)
        assert len(results) == 320 and all(isinstance(r, bool) for r in results), results
        assert sum(results) == 250
        usage = store.usage(key_id="key_shared", account="acme", now=T0 + 1)
        assert (usage.hourly_count, usage.monthly_count) == (250, 250)


def test_keys_of_one_account_racing_for_its_monthly_quota_get_exactly_it(store_target):
    with open_store(store_target) as store:
        results = racers.race(store_target, racers.admit_many, (40, "key_{no}", "acme", None, 210, T0),
                              processes=4, threads=2)  # 8 keys, one account
        assert len(results) == 320 and sum(results) == 210, results
        assert store.usage(account="acme", now=T0).monthly_count == 210


def test_100_concurrent_reservations_against_a_budget_that_fits_10(store_target):
    amount = 70_000_000  # $0.07: the budget of $0.70 fits exactly 10
    with open_store(store_target) as store:
        store.set_budget("key", "key_b", "0.7", "day", now=T0)
        results = racers.race(store_target, racers.reserve_many, (5, amount, T0), processes=4, threads=5)
        assert len(results) == 100 and sum(results) == 10, results
        standing = store.budget_standing(store.get_budget("key", "key_b"), now=T0)
        assert (standing.spent_nano, standing.reserved_nano, standing.overshoot_nano) == (10 * amount, 0, 0)
        assert not store.admit(Admission("key_b", "acme", None, None, T0 + 1, Charge(1))).admitted


def test_20_concurrent_key_creations_on_a_free_account_make_exactly_one(store_target):
    with open_store(store_target) as store:
        store.create_account("solo")  # the free tier: one key
        results = racers.race(store_target, racers.create_key, ("solo",), processes=4, threads=5)
        made = [r for r in results if r.startswith("key_")]
        assert len(results) == 20 and len(made) == 1, results
        assert all("already has its maximum of 1 active key" in r for r in results if r not in made), results
        assert [k.id for k in store.list_keys("solo")] == made


def test_two_serve_workers_never_lease_one_message_twice(store_target):
    with open_store(store_target) as store:
        store.create_account("acme", "pro")
        endpoint, _ = store.add_endpoint("acme", "https://hooks.example/a", None)
        for _ in range(120):
            store.send_test_event(endpoint.id)
        now = time.time() + 1
        results = racers.race(store_target, racers.claim_all, ("serve", now), processes=2, threads=3)
        assert len(results) == 120 and len(set(results)) == 120, results  # each claimed (and sent) once
        attempts = store.deliveries(endpoint.id, limit=1000)
        assert len(attempts) == 120 and {a.message_id for a in attempts} == set(results)
        assert store.claim_messages("late", now + 10_000) == []
