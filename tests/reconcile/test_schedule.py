"""The daily schedule at pinned times with a fake `reconcile`: which providers run (an admin
key in the environment or the vault), what is due when, one run per provider and day across
two schedulers on one store, failures saved (never raised, the admin key kept out), drift
sent above the threshold only."""

import json
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from aispendtrack.config import parse_config
from aispendtrack.reconcile.run import ReconcileError
from aispendtrack.reconcile.schedule import Scheduler, due_day, plan_of

from support.reconcile_reports import report

ADMIN_KEY = "sk-admin-SCHEDULE-TEST-0123456789"
BOTH = {"OPENAI_ADMIN_KEY": ADMIN_KEY, "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-SCHEDULE"}
OPENAI = {"OPENAI_ADMIN_KEY": ADMIN_KEY}
CONFIG = parse_config({"reconcile": {
    "schedule": "daily", "openai": {"projects": {"proj_a": "acme"}},
    "anthropic": {"workspaces": {"wrkspc_1": "acme", "default": "beta"}, "api_keys": {"apikey_9": "gamma"}}}})


def scheduler(store, run, when, environ=BOTH, config=CONFIG):
    return Scheduler(store, config, run=run, clock=lambda: at(when) if isinstance(when, str) else when[0],
                     environ=environ)


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
    each = scheduler(store, fake, clock)
    saved = each.run_due()
    assert [c[:4] for c in fake.calls] == [("openai", date(2026, 3, 4), date(2026, 3, 4), None),
                                           ("anthropic", date(2026, 3, 4), date(2026, 3, 4), None)]
    assert fake.calls[0][4] == datetime(2026, 3, 5, 1, 30, tzinfo=UTC)
    assert len(saved) == 2
    assert [r.provider for r in store.latest_reconcile_runs("beta")] == ["anthropic"]
    assert store.get_reconcile_run(saved[1]).accounts == ("acme", "beta", "gamma")  # every account mapped
    assert [r.provider for r in store.latest_reconcile_runs("acme")] == ["anthropic", "openai"]
    clock[0] = at("2026-03-05T23:00:00")
    assert each.run_due() == [] and len(fake.calls) == 2  # once that day
    clock[0] = at("2026-03-06T01:00:00")
    assert len(each.run_due()) == 2 and fake.calls[-1][1] == date(2026, 3, 5)


def test_two_serves_on_one_store_run_a_day_once(store):
    fakes = [Fake(), Fake()]
    for fake in fakes:
        scheduler(store, fake, "2026-03-05T02:00:00").run_due()
    assert len(fakes[0].calls) == 2 and fakes[1].calls == []


def test_a_failure_is_saved_with_its_message_and_the_last_good_run_stays(store):
    scheduler(store, Fake(), "2026-03-05T02:00:00", OPENAI).run_due()
    fail = ReconcileError(f"OpenAI's admin API answered 429 (retry after 30 s) for key {ADMIN_KEY}")
    saved = scheduler(store, Fake(fail=fail), "2026-03-06T02:00:00", OPENAI).run_due()
    run = store.get_reconcile_run(saved[0])
    assert (run.status, run.since, run.accounts) == ("error", date(2026, 3, 5), ("acme",))
    assert run.error == "OpenAI's admin API answered 429 (retry after 30 s) for key [admin key]"
    good = store.latest_reconcile_runs("acme", ok_only=True)
    assert [(r.status, r.since) for r in good] == [("ok", date(2026, 3, 4))]


def test_an_unexpected_error_is_saved_and_the_pass_goes_on(store):
    calls = []

    def run(config, store_, provider, since, until, account=None, *, now=None):
        calls.append(provider)
        if provider == "openai":
            raise KeyError("boom")
        return report(provider, day=since)

    saved = scheduler(store, run, "2026-03-05T02:00:00").run_due()
    assert calls == ["openai", "anthropic"]
    runs = [store.get_reconcile_run(i) for i in saved]
    assert [(r.provider, r.status) for r in runs] == [("openai", "error"), ("anthropic", "ok")]
    assert runs[0].error == "unexpected error (KeyError); see serve's log"


def test_drift_is_sent_above_the_threshold_only(store):
    store.create_account("acme", "pro")
    store.add_endpoint("acme", "https://hooks.example.com/x", ("reconcile.drift",))
    scheduler(store, Fake("0.99"), "2026-03-05T02:00:00", OPENAI).run_due()
    assert store.claim_messages("t", time.time() + 1) == []
    saved = scheduler(store, Fake("1.01"), "2026-03-06T02:00:00", OPENAI).run_due()
    sent = [json.loads(m.payload) for m in store.claim_messages("t", time.time() + 1)]
    assert [(e["type"], e["data"]["run_id"], e["data"]["unexplained_usd"]) for e in sent] == [
        ("reconcile.drift", saved[0], "1.01")]


def test_no_provider_with_a_key_runs_nothing_and_off_is_off(store):
    fake = Fake()
    assert scheduler(store, fake, "2026-03-05T02:00:00", {"OPENAI_ADMIN_KEY": "  "}).run_due() == []
    assert scheduler(store, fake, "2026-03-05T02:00:00", config=parse_config({})).run_due() == []
    assert fake.calls == [] and plan_of(parse_config({}), store, BOTH) is None


def test_a_provider_runs_with_its_key_in_the_environment_or_the_vault(store):
    assert plan_of(CONFIG, store, {}).providers == ()
    assert plan_of(CONFIG, store, OPENAI).providers == ("openai",)
    custom = parse_config({"reconcile": {"schedule": "daily", "anthropic": {"admin_key_env": "ANT_KEY"}}})
    assert plan_of(custom, store, {"ANT_KEY": "x", "ANTHROPIC_ADMIN_KEY": "y"}).providers == ("anthropic",)
    store.create_account("acme", "pro")
    store.put_credential(store.get_account("acme").id, "anthropic.admin", None, "mk_1", "sealed", "…abcd", "ops")
    plan = plan_of(CONFIG, store, OPENAI)
    assert plan.providers == ("openai", "anthropic") and plan.drift_usd == Decimal("1.00")
    assert plan.accounts == {"openai": ("acme",), "anthropic": ("acme", "beta", "gamma")}
    assert plan.secrets == (ADMIN_KEY,)


def test_the_thread_outlives_a_failing_store(store, monkeypatch):
    """A pass that raises (the store down) is logged; the next pass runs: serve never loses the schedule."""
    import threading

    from aispendtrack.reconcile import schedule

    monkeypatch.setattr(schedule, "POLL_SECONDS", 0.01)
    passes, again = [], threading.Event()

    class Down:
        def list_credentials(self):
            passes.append(1)
            if len(passes) >= 2:
                again.set()
            raise RuntimeError("database is locked")

    each = Scheduler(Down(), CONFIG, run=Fake(), clock=lambda: at("2026-03-05T02:00:00"), environ={})
    each.start()
    try:
        assert again.wait(30)
    finally:
        each.stop()
    assert not each._thread.is_alive()


def test_an_unexpected_error_s_details_go_to_the_log_without_the_key(store, caplog):
    def run(config, store_, provider, since, until, account=None, *, now=None):
        raise RuntimeError(f"socket said {ADMIN_KEY}")

    with caplog.at_level("WARNING", logger="aispendtrack.reconcile.schedule"):
        [saved] = scheduler(store, run, "2026-03-05T02:00:00", OPENAI).run_due()
    assert store.get_reconcile_run(saved).error == "unexpected error (RuntimeError); see serve's log"
    assert "RuntimeError: socket said [admin key]" in caplog.text and ADMIN_KEY not in caplog.text
