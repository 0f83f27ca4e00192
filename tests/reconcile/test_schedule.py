"""The daily schedule at pinned times with a fake `reconcile`: what is due when, one run per
provider and day across two schedulers on one store, failures saved (never raised, the
admin key kept out), drift sent above the threshold only."""

import json
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from aispendtrack.reconcile.run import ReconcileError
from aispendtrack.reconcile.schedule import Plan, Scheduler, due_day

from support.reconcile_reports import report

ADMIN_KEY = "sk-admin-SCHEDULE-TEST-0123456789"
PLAN = Plan(("openai", "anthropic"), {"openai": ("acme",), "anthropic": ("acme", "beta")}, Decimal("1.00"),
            secrets=(ADMIN_KEY,))


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class Fake:
    """`reconcile()` as the scheduler calls it: records each call, answers a report per provider
    (or raises what `fail` says)."""

    def __init__(self, unexplained="0.00", fail=None):
        self.calls, self.unexplained, self.fail = [], unexplained, fail

    def __call__(self, config, store, provider, since, until, account=None, *, now=None):
        self.calls.append((provider, since, until, account, now))
        if self.fail is not None:
            raise self.fail
        return report(provider, unexplained=self.unexplained, day=since, ran_at=now.isoformat())


@pytest.mark.parametrize("now, day", [
    ("2026-03-05T00:59:59", date(2026, 3, 3)),  # before the hour: yesterday's buckets may be incomplete
    ("2026-03-05T01:00:00", date(2026, 3, 4)),
    ("2026-03-05T23:59:59", date(2026, 3, 4)),
    ("2026-03-01T01:00:00", date(2026, 2, 28)),
    ("2028-03-01T00:30:00", date(2028, 2, 28)),
    ("2027-01-01T05:00:00", date(2026, 12, 31)),
])
def test_the_day_due(now, day):
    assert due_day(datetime.fromisoformat(now).replace(tzinfo=UTC)) == day


def test_each_provider_runs_once_a_day_and_is_saved(store):
    clock = [at("2026-03-05T01:30:00")]
    fake = Fake()
    scheduler = Scheduler(store, "CONFIG", PLAN, run=fake, clock=lambda: clock[0])
    saved = scheduler.run_due()
    assert [c[:4] for c in fake.calls] == [("openai", date(2026, 3, 4), date(2026, 3, 4), None),
                                           ("anthropic", date(2026, 3, 4), date(2026, 3, 4), None)]
    assert fake.calls[0][4] == datetime(2026, 3, 5, 1, 30, tzinfo=UTC)
    assert len(saved) == 2
    runs = {r.provider: r for r in store.latest_reconcile_runs("beta")}
    assert list(runs) == ["anthropic"] and runs["anthropic"].accounts == ("acme", "beta")
    assert [r.provider for r in store.latest_reconcile_runs("acme")] == ["anthropic", "openai"]
    clock[0] = at("2026-03-05T23:00:00")
    assert scheduler.run_due() == [] and len(fake.calls) == 2  # once that day
    clock[0] = at("2026-03-06T01:00:00")
    assert len(scheduler.run_due()) == 2 and fake.calls[-1][1] == date(2026, 3, 5)


def test_two_serves_on_one_store_run_a_day_once(store):
    fakes = [Fake(), Fake()]
    for fake in fakes:
        Scheduler(store, "CONFIG", PLAN, run=fake, clock=lambda: at("2026-03-05T02:00:00")).run_due()
    assert len(fakes[0].calls) == 2 and fakes[1].calls == []


def test_a_failure_is_saved_with_its_message_and_the_last_good_run_stays(store):
    Scheduler(store, "CONFIG", replace(PLAN, providers=("openai",)), run=Fake(),
              clock=lambda: at("2026-03-05T02:00:00")).run_due()
    fail = ReconcileError(f"OpenAI's admin API answered 429 (retry after 30 s) for key {ADMIN_KEY}")
    saved = Scheduler(store, "CONFIG", replace(PLAN, providers=("openai",)), run=Fake(fail=fail),
                      clock=lambda: at("2026-03-06T02:00:00")).run_due()
    run = store.get_reconcile_run(saved[0])
    assert (run.status, run.since, run.accounts) == ("error", date(2026, 3, 5), ("acme",))
    assert run.error == "OpenAI's admin API answered 429 (retry after 30 s) for key [admin key]"
    good = store.latest_reconcile_runs("acme", ok_only=True)
    assert [(r.status, r.since) for r in good] == [("ok", date(2026, 3, 4))]


def test_an_unexpected_error_is_saved_and_the_pass_goes_on(store, caplog):
    plan = replace(PLAN, providers=("openai", "anthropic"))
    calls = []

    def run(config, store_, provider, since, until, account=None, *, now=None):
        calls.append(provider)
        if provider == "openai":
            raise KeyError("boom")
        return report(provider, day=since)

    saved = Scheduler(store, "CONFIG", plan, run=run, clock=lambda: at("2026-03-05T02:00:00")).run_due()
    assert calls == ["openai", "anthropic"]
    runs = [store.get_reconcile_run(i) for i in saved]
    assert [(r.provider, r.status) for r in runs] == [("openai", "error"), ("anthropic", "ok")]
    assert runs[0].error == "unexpected error (KeyError); see serve's log"


def test_drift_is_sent_above_the_threshold_only(store):
    store.create_account("acme", "pro")
    store.add_endpoint("acme", "https://hooks.example.com/x", ("reconcile.drift",))
    plan = replace(PLAN, providers=("openai",))
    Scheduler(store, "CONFIG", plan, run=Fake("0.99"), clock=lambda: at("2026-03-05T02:00:00")).run_due()
    assert store.claim_messages("t", time.time() + 1) == []
    saved = Scheduler(store, "CONFIG", plan, run=Fake("1.01"), clock=lambda: at("2026-03-06T02:00:00")).run_due()
    sent = [json.loads(m.payload) for m in store.claim_messages("t", time.time() + 1)]
    assert [(e["type"], e["data"]["run_id"], e["data"]["unexplained_usd"]) for e in sent] == [
        ("reconcile.drift", saved[0], "1.01")]


def test_no_provider_with_a_key_runs_nothing(store):
    fake = Fake()
    assert Scheduler(store, "CONFIG", replace(PLAN, providers=()), run=fake,
                     clock=lambda: at("2026-03-05T02:00:00")).run_due() == []
    assert fake.calls == []
