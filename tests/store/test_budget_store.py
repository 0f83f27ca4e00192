"""Budgets in the store: reserve in the admission's transaction, settle with the ledger row.

Real SQLite files; threads and OS processes race on one file as proxies do.
"""

import multiprocessing
import threading
from decimal import Decimal


from aispendtrack.limits import budget as rules
from aispendtrack.store import budgets, open_store
from aispendtrack.store.api.traffic import Admission

from support.budget_store import NANO, T0, _process, admit


def spend_row(db, scope="account", subject="acme", key="m2026-11"):
    with db.connection() as conn:
        return conn.execute(
            "SELECT spent_nano, reserved_nano, overshoot_nano FROM budget_spend"
            " WHERE scope = ? AND subject = ? AND period_key = ?", (scope, subject, key)).fetchone()


def ledger_row(ts, cost, reservation_id=None, outcome="forwarded", key_id="k1", account="acme"):
    return {"ts": ts, "key_id": key_id, "account": account, "provider": "openai", "outcome": outcome,
            "cost_usd": cost, "pricing": "priced" if cost is not None else "unmetered",
            "reservation_id": reservation_id}


def _race(path, n, amount_nano, now):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def attempt(i):
        try:
            with open_store(path, migrate_schema=False) as db:  # a connection of its own, as a proxy has
                barrier.wait()
                results.append(admit(db, amount_nano, now=now + i * 1e-3))
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return results


def test_100_concurrent_against_a_budget_of_exactly_10_then_settled_to_the_budget(path, db):
    db.set_budget("account", "acme", "1.00", "month", now=T0)
    decisions = _race(path, 100, NANO // 10, T0)
    admitted = [d for d in decisions if d.admitted]
    assert len(admitted) == 10
    refused = [d for d in decisions if not d.admitted]
    assert {d.limit for d in refused} == {"budget"}
    assert spend_row(db) == (0, NANO, 0)
    for d in admitted:  # each call cost exactly its bound
        db.record([ledger_row(T0 + 1, Decimal("0.1"), d.budget.id)])
    assert spend_row(db) == (NANO, 0, 0)
    assert not admit(db, 1).admitted  # the budget is spent to the nano-dollar


def test_two_os_processes_share_one_budget(path, db):
    db.set_budget("key", "k1", "0.5", "day", now=T0)
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_process, args=(str(path), 50, NANO // 20, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    admitted = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(admitted) == 10
    assert spend_row(db, "key", "k1", "d2026-11-26") == (0, NANO // 2, 0)


def test_settle_real_cost_frees_the_rest_and_records_overshoot(db):
    db.set_budget("account", "acme", "1", "month", now=T0)
    db.set_budget("key", "k1", "0.6", "month", now=T0)
    a, b = admit(db, NANO // 2), admit(db, NANO // 2)
    assert a.admitted and not b.admitted and b.budget.refused_by.budget.scope == "key"
    db.record([ledger_row(T0 + 1, Decimal("0.2"), a.budget.id)])
    c = admit(db, NANO // 2)  # 0.2 spent + 0.5 > 0.6 on the key: refused
    assert not c.admitted
    d = admit(db, NANO // 4)
    assert d.admitted
    db.record([ledger_row(T0 + 2, Decimal("0.3"), d.budget.id)])  # cost above its 0.25 bound
    db.record([ledger_row(T0 + 3, Decimal("0.3"), d.budget.id)])  # a second row never settles twice
    assert spend_row(db, "key", "k1") == (NANO // 2, 0, NANO // 20)
    assert spend_row(db, "account", "acme") == (NANO // 2, 0, NANO // 20)


def test_unpriced_or_failed_calls_settle_zero_aborted_ones_their_bound(db):
    db.set_budget("account", "acme", "1", "month", now=T0)
    a, b = admit(db, NANO // 10), admit(db, NANO // 10)
    db.record([ledger_row(T0, None, a.budget.id, outcome="upstream_error")])
    db.record([ledger_row(T0, None, b.budget.id, outcome="aborted")])
    assert spend_row(db) == (NANO // 10, 0, 0)


def test_a_budget_set_mid_period_counts_that_period_only_and_a_change_recounts(db):
    db.record([ledger_row(T0 - 40 * 86400, Decimal("5"))])  # October: not this month
    db.record([ledger_row(T0 - 86400, Decimal("0.25"))])  # this month, before any budget
    db.record([ledger_row(T0 - 86400, Decimal("7"), account="other")])
    db.set_budget("account", "acme", "0.5", "month", now=T0)
    assert spend_row(db) == (NANO // 4, 0, 0)
    assert admit(db, NANO // 4).admitted
    assert not admit(db, 1).admitted
    db.set_budget("account", "acme", "0.75", "month", now=T0 + 10)  # raised mid-period
    assert spend_row(db) == (NANO // 4, NANO // 4, 0)  # the hold in flight survives the change
    assert admit(db, NANO // 4).admitted
    db.set_budget("account", "acme", "0.3", "day", now=T0 + 20)  # a day budget: today only
    assert spend_row(db, key="d2026-11-26") == (0, 0, 0)
    assert admit(db, NANO * 3 // 10, now=T0 + 30).admitted


def test_a_new_period_starts_at_zero_with_nothing_to_run(db):
    db.set_budget("key", "k1", "1", "week", now=T0)  # Thursday of week 48
    first = admit(db, NANO)
    assert first.admitted and not admit(db, 1).admitted
    db.record([ledger_row(T0, Decimal("1"), first.budget.id)])
    monday = 1_795_996_800.0  # 2026-11-30T00:00:00Z
    assert not admit(db, 1, now=monday - 0.001).admitted
    d = admit(db, NANO, now=monday)
    assert d.admitted and d.budget.tightest.period_key == "w2026-W49"
    assert d.budget.tightest.reset_at == monday + 7 * 86400


def test_tier_default_applies_to_accounts_without_their_own(db):
    tier = rules.Budget("account", "acme", NANO, "total")
    db.record([ledger_row(T0 - 400 * 86400, Decimal("0.75"))])  # total: all time counts
    assert not admit(db, NANO // 2, tier_budget=tier).admitted
    assert admit(db, NANO // 4, tier_budget=tier).admitted
    db.set_budget("account", "acme", "10", "total", now=T0)  # its own budget wins
    assert admit(db, NANO, tier_budget=tier).admitted


def test_a_reservation_never_settled_expires(db):
    db.set_budget("account", "acme", "1", "total", now=T0)
    lost = admit(db, NANO)
    assert not admit(db, 1, now=T0 + 60).admitted
    assert db.expire_holds(T0 + budgets.RESERVATION_TTL) == 0  # still held at the TTL
    later = T0 + budgets.RESERVATION_TTL + 1
    assert db.expire_holds(later) == 1  # what each proxy's writer runs now and then
    assert admit(db, NANO // 2, now=later).admitted
    # the lost call's row arrives after all: its cost still counts
    db.record([ledger_row(T0, Decimal("0.1"), lost.budget.id)])
    assert spend_row(db, key="t") == (NANO // 10, NANO // 2, NANO // 10)  # shown as overshoot


def test_refusal_consumes_no_request_counts(db):
    db.set_budget("key", "k1", "0", "month", now=T0)
    d = db.admit(Admission("k1", "acme", 5, 5, T0, budgets.Charge(1)))
    assert not d.admitted and d.limit == "budget" and d.hourly_remaining == 5 and d.monthly_remaining == 5
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM rate_events").fetchone() == (0,)
