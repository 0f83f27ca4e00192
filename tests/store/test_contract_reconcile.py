"""Saved reconciliations through the store, the same on SQLite and PostgreSQL: a report comes
back exactly as saved, the newest run per provider concerns only its accounts, a failed save
loses nothing, and `reconcile.drift` is queued once per run above the threshold only."""

import json
import time
from dataclasses import replace
from decimal import Decimal

import pytest

from aispendtrack.reconcile.model import Row, Side
from aispendtrack.store.reconcile_runs import dashboard_path
from support.reconcile_reports import DAY, report


def drift_events(store) -> list[dict]:
    got = store.claim_messages("test", time.time() + 1, limit=1000)
    return [json.loads(m.payload) for m in got if m.type == "reconcile.drift"]


def hook(store, account: str) -> None:
    store.create_account(account, "pro")
    store.add_endpoint(account, "https://hooks.example.com/x", ("reconcile.drift",))


def test_a_saved_report_comes_back_exactly(store):
    saved = report(account="acme", unexplained="1.234567890123")
    run_id = store.save_reconcile(saved)
    assert store.load_reconcile_report(run_id) == saved
    rows, unattributed = store.reconcile_run_rows(run_id)
    assert rows == saved.rows and unattributed == saved.unattributed
    assert rows[1].provider.usd == Decimal("1.234667890123") and rows[1].provider.batch_tokens == 5
    run = store.get_reconcile_run(run_id)
    assert (run.status, run.account, run.accounts, run.error, run.off_rows) == ("ok", "acme", ("acme",), None, 2)
    assert str(run.unexplained_usd) == "1.234567890123" and str(run.tolerance_usd) == "0.01"
    assert run.as_json()["unexplained_usd"] == "1.234567890123"
    assert run.as_json()["dashboard"] == dashboard_path(run_id)


def test_latest_run_per_provider_concerns_only_its_accounts(store):
    first = store.save_reconcile(report(unexplained="2"), accounts=["acme", "beta"])
    newer = store.save_reconcile(report(unexplained="3"), accounts=["acme", "beta"])
    anthropic = store.save_reconcile(report("anthropic"), accounts=["beta"])
    own = store.save_reconcile(report(account="acme"))
    assert [(r.provider, r.id) for r in store.latest_reconcile_runs("acme")] == [("openai", newer), ("openai", own)]
    assert [(r.provider, r.id) for r in store.latest_reconcile_runs("beta")] == [("anthropic", anthropic),
                                                                                  ("openai", newer)]
    assert store.latest_reconcile_runs("gamma") == []
    assert {r.id for r in store.latest_reconcile_runs()} == {newer, anthropic, own}
    assert store.get_reconcile_run(newer, "acme").accounts == ("acme", "beta")
    assert store.get_reconcile_run(anthropic, "acme") is None  # another account's run is not there for acme
    assert store.get_reconcile_run(own, "beta") is None
    assert store.get_reconcile_run(first) is not None and store.get_reconcile_run(10_000) is None


def test_a_failed_run_is_saved_and_the_last_good_one_stays(store):
    good = store.save_reconcile(report(), accounts=["acme"])
    failed = store.save_reconcile_failure("openai", DAY, DAY, "the OpenAI admin API answered 401: check the key",
                                          accounts=["acme"])
    latest = store.latest_reconcile_runs("acme")
    assert [(r.id, r.status, r.error, r.unexplained_usd) for r in latest] == [
        (failed, "error", "the OpenAI admin API answered 401: check the key", None)]
    assert [r.id for r in store.latest_reconcile_runs("acme", ok_only=True)] == [good]
    assert store.load_reconcile_report(failed) is None and store.load_reconcile_report(good) is not None


def test_a_save_that_fails_midway_leaves_nothing_and_loses_nothing(store, database):
    hook(store, "acme")
    good = store.save_reconcile(report(unexplained="5"), accounts=["acme"], drift_usd=Decimal(1))
    broken = report(unexplained="9")
    broken = replace(broken, rows=(*broken.rows, Row("not a date", "m", Side(), Side(), "matches")))
    with pytest.raises(AttributeError):
        store.save_reconcile(broken, accounts=["acme"], drift_usd=Decimal(1))
    assert [r.id for r in store.latest_reconcile_runs("acme")] == [good]
    assert database.execute("SELECT count(*) FROM reconcile_runs") == [(1,)]
    assert database.execute("SELECT count(*) FROM reconcile_rows") == [(3,)]
    assert [e["data"]["unexplained_usd"] for e in drift_events(store)] == ["5"]  # the broken run's event is gone too


def test_drift_is_sent_once_per_run_above_the_threshold_only(store):
    for account in ("acme", "beta", "quiet"):
        hook(store, account)
    assert store.save_reconcile(report(unexplained="1.00"), accounts=["acme"], drift_usd=Decimal("1.00"))
    assert drift_events(store) == []  # equal is not above
    run_id = store.save_reconcile(report(unexplained="1.000001"), accounts=["beta", "acme"],
                                  drift_usd=Decimal("1.00"))
    events = drift_events(store)
    assert sorted(e["data"]["account"] for e in events) == ["acme", "beta"]
    assert events[0]["type"] == "reconcile.drift"
    data = next(e["data"] for e in events if e["data"]["account"] == "acme")
    assert data == {"account": "acme", "provider": "openai", "run_id": run_id, "run_account": None,
                    "period": {"since": DAY.isoformat(), "until": DAY.isoformat()}, "matched_pct": 100.0,
                    "unexplained_usd": "1.000001", "drift_usd": "1.00", "ran_at": "2026-03-05T01:02:03.000000Z",
                    "dashboard": dashboard_path(run_id)}
    assert drift_events(store) == []  # queued once: nothing more for that run
    store.save_reconcile(report(account="quiet", unexplained="7"), drift_usd=Decimal("1.00"))
    assert [e["data"]["account"] for e in drift_events(store)] == ["quiet"]  # a run for one account: to it alone
    store.save_reconcile(report(unexplained="7"), accounts=["acme"])
    assert drift_events(store) == []  # no threshold given: no event


def test_the_schedule_claims_a_provider_day_once(store):
    assert store.claim_reconcile_day("openai", DAY) is True
    assert store.claim_reconcile_day("openai", DAY) is False
    assert store.claim_reconcile_day("anthropic", DAY) is True
