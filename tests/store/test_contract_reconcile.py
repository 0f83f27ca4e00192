"""Saved reconciliations through the store, the same on SQLite and PostgreSQL: a report comes
back exactly as saved, an account sees only its own share of a run (its rows, its figures,
never another account's rows nor unattributed usage), the newest run per provider, a failed
save loses nothing, and `reconcile.drift` is queued once per run to each account whose own
unexplained dollars are above the threshold, and to no other."""

import json
import time
from dataclasses import replace
from decimal import Decimal

import pytest

from aispendtrack.reconcile.model import Row, Side
from aispendtrack.store.reconcile_runs import dashboard_path

from support.reconcile_reports import DAY, STRAY, report


def drift_events(store) -> list[dict]:
    got = store.claim_messages("test", time.time() + 1, limit=1000)
    return [json.loads(m.payload) for m in got if m.type == "reconcile.drift"]


def hook(store, *accounts: str) -> None:
    for account in accounts:
        store.create_account(account, "pro")
        store.add_endpoint(account, "https://hooks.example.com/x", ("reconcile.drift",))


def test_a_saved_report_comes_back_exactly(store):
    saved = report(unexplained="1.234567890123")
    run_id = store.save_reconcile(saved, accounts=["acme", "beta"])
    assert store.load_reconcile_report(run_id) == saved
    rows, unattributed = store.reconcile_run_rows(run_id)
    assert rows == saved.rows and unattributed == saved.unattributed
    assert rows[2].provider.usd == Decimal("1.234667890123") and rows[2].provider.batch_tokens == 5
    run = store.get_reconcile_run(run_id)
    assert (run.status, run.account, run.accounts, run.error, run.off_rows, run.share_of) == (
        "ok", None, ("acme", "beta"), None, 2, None)
    assert run.unexplained_usd == Decimal("1.234567890123") + STRAY and str(run.tolerance_usd) == "0.01"
    assert run.notes == saved.notes and run.matched_pct == saved.matched_pct
    assert run.as_json()["unexplained_usd"] == "1.734567890123"
    assert run.as_json()["dashboard"] == dashboard_path(run_id)


def test_an_account_sees_its_own_share_only(store):
    run_id = store.save_reconcile(report(unexplained="2.5"), accounts=["acme", "beta"])
    acme, beta = store.get_reconcile_run(run_id, "acme"), store.get_reconcile_run(run_id, "beta")
    assert (acme.share_of, acme.accounts, acme.unexplained_usd, acme.off_rows) == ("acme", ("acme",), Decimal("2.5"), 1)
    assert acme.matched_pct == pytest.approx(0.49, abs=0.01)  # $0.012345 of $2.512445 matched
    assert (beta.unexplained_usd, beta.matched_pct, beta.off_rows) == (Decimal(0), 100.0, 0)
    assert acme.notes == beta.notes == ()  # a run over several accounts: its notes may name the others
    rows, unattributed = store.reconcile_run_rows(run_id, "beta")
    assert [(r.account, r.model) for r in rows] == [("beta", "gpt-4o-mini")] and unattributed == ()
    assert {r.account for r in store.reconcile_run_rows(run_id, "acme")[0]} == {"acme"}
    assert store.get_reconcile_run(run_id, "gamma") is None
    assert store.reconcile_run_rows(run_id, "gamma") == ((), ())
    own = store.save_reconcile(report(account="beta"))  # a run made for one account: its notes are its own
    assert store.get_reconcile_run(own, "beta").notes == report().notes
    assert store.get_reconcile_run(own, "acme") is None


def test_latest_run_per_provider_and_scope(store):
    store.save_reconcile(report(unexplained="2"), accounts=["acme", "beta"])
    newer = store.save_reconcile(report(unexplained="3"), accounts=["acme", "beta"])
    anthropic = store.save_reconcile(report("anthropic"), accounts=["beta"])
    own = store.save_reconcile(report(account="acme"))
    assert [(r.provider, r.id) for r in store.latest_reconcile_runs("acme")] == [("openai", newer), ("openai", own)]
    assert [(r.provider, r.id) for r in store.latest_reconcile_runs("beta")] == [("anthropic", anthropic),
                                                                                  ("openai", newer)]
    assert store.latest_reconcile_runs("gamma") == []
    assert {r.id for r in store.latest_reconcile_runs()} == {newer, anthropic, own}
    assert store.get_reconcile_run(10_000) is None


def test_a_failed_run_is_saved_and_the_last_good_one_stays(store):
    good = store.save_reconcile(report(), accounts=["acme"])
    failed = store.save_reconcile_failure("openai", DAY, DAY, "the OpenAI admin API answered 401: check the key",
                                          accounts=["acme"])
    latest = store.latest_reconcile_runs("acme")
    assert [(r.id, r.status, r.error, r.unexplained_usd, r.matched_pct) for r in latest] == [
        (failed, "error", "the OpenAI admin API answered 401: check the key", None, None)]
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
    assert database.execute("SELECT count(*) FROM reconcile_rows") == [(4,)]
    assert [e["data"]["unexplained_usd"] for e in drift_events(store)] == ["5"]  # the broken run's event is gone too


def test_drift_is_sent_once_per_run_to_the_accounts_above_the_threshold(store):
    hook(store, "acme", "beta", "quiet")
    store.save_reconcile(report(unexplained="1.00"), accounts=["acme", "beta"], drift_usd=Decimal("1.00"))
    assert drift_events(store) == []  # equal is not above (and the unattributed $0.50 is no account's)
    run_id = store.save_reconcile(report(unexplained="1.000001"), accounts=["beta", "acme"],
                                  drift_usd=Decimal("1.00"))
    events = drift_events(store)
    assert [(e["type"], e["data"]["account"]) for e in events] == [("reconcile.drift", "acme")]  # beta's share matches
    assert events[0]["data"] == {
        "account": "acme", "provider": "openai", "run_id": run_id,
        "period": {"since": DAY.isoformat(), "until": DAY.isoformat()},
        "matched_pct": store.get_reconcile_run(run_id, "acme").matched_pct, "unexplained_usd": "1.000001",
        "drift_usd": "1.00", "ran_at": "2026-03-05T01:02:03.000000Z", "dashboard": dashboard_path(run_id)}
    assert drift_events(store) == []  # queued once: nothing more for that run
    store.save_reconcile(report(unexplained="7", gap_of="beta"), accounts=["acme", "beta"], drift_usd=Decimal(1))
    assert [e["data"]["account"] for e in drift_events(store)] == ["beta"]
    store.save_reconcile(report(account="quiet", unexplained="7", gap_of="quiet"), drift_usd=Decimal("1.00"))
    assert [e["data"]["account"] for e in drift_events(store)] == ["quiet"]  # a run for one account: to it alone
    store.save_reconcile(report(unexplained="7"), accounts=["acme"])
    assert drift_events(store) == []  # no threshold given: no event


def test_the_schedule_claims_a_provider_day_once(store):
    assert store.claim_reconcile_day("openai", DAY) is True
    assert store.claim_reconcile_day("openai", DAY) is False
    assert store.claim_reconcile_day("anthropic", DAY) is True
