"""`/v1/reconcile` in process: owners and admins read their account's share of the saved runs
(the newest per provider, the last good one beside a failure, a run's own rows); members,
viewers, keys without `api` and other accounts get nothing of it."""

from datetime import date

import pytest

from aispendtrack.store.reconcile_runs import dashboard_path

from support.reconcile_reports import DAY, report
from support.team import CONFIG


@pytest.fixture
def runs(store, team):
    """A scheduled openai run over acme and rival (acme's share drifts by $2.5, rival's holds
    a row acme must never see), then a failed one; an anthropic run for rival alone."""
    both = store.save_reconcile(report(unexplained="2.5", names=("acme", "rival")), accounts=["acme", "rival"])
    failed = store.save_reconcile_failure("openai", date(2026, 3, 5), date(2026, 3, 5),
                                          "OpenAI's admin API answered 401: the admin key is not valid",
                                          accounts=["acme", "rival"])
    rival = store.save_reconcile(report("anthropic", account="rival", gap_of="rival", names=("rival",)))
    return {"both": both, "failed": failed, "rival": rival}


def test_an_owner_reads_the_latest_runs_and_the_last_good_one(api, team, runs):
    for name in ("owner", "ada"):
        r = api("GET", "/v1/reconcile", team[name].key)
        assert r.status_code == 200, r.text
        [entry] = r.json()
        latest, good = entry["latest"], entry["last_good"]
        assert (latest["id"], latest["status"], latest["error"], latest["unexplained_usd"]) == (
            runs["failed"], "error", "OpenAI's admin API answered 401: the admin key is not valid", None)
        assert (good["id"], good["status"], good["unexplained_usd"], good["off_rows"], good["since"]) == (
            runs["both"], "ok", "2.5", 1, DAY.isoformat())
        assert good["dashboard"] == dashboard_path(runs["both"]) and good["notes"] == []


def test_a_run_s_rows_are_the_account_s_own(api, team, runs):
    r = api("GET", f"/v1/reconcile/{runs['both']}", team["owner"].key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(row["model"], row["verdict"]) for row in body["rows"]] == [("gpt-4o-mini", "matches"),
                                                                        ("gpt-4o", "gateway under")]
    gap = body["rows"][1]
    assert (gap["provider"]["usd"], gap["gateway"]["usd"], gap["difference_usd"]) == ("2.500100", "0.000100", "2.5")
    assert body["unexplained_usd"] == "2.5" and "proj_other" not in r.text and "rival" not in r.text
    rival = api("GET", f"/v1/reconcile/{runs['both']}", team["rival"].key).json()
    assert [row["verdict"] for row in rival["rows"]] == ["matches"] and rival["unexplained_usd"] == "0"


def test_another_account_s_run_does_not_exist(api, team, runs):
    r = api("GET", f"/v1/reconcile/{runs['rival']}", team["owner"].key)
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
    assert api("GET", "/v1/reconcile/999999", team["owner"].key).status_code == 404
    assert [e["latest"]["provider"] for e in api("GET", "/v1/reconcile", team["rival"].key).json()] == [
        "anthropic", "openai"]


@pytest.mark.parametrize("name", ["mia", "vic"])
def test_members_and_viewers_get_nothing(api, team, runs, name):
    for path in ("/v1/reconcile", f"/v1/reconcile/{runs['both']}", f"/v1/reconcile/{runs['failed']}"):
        r = api("GET", path, team[name].key)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["type"] == "role_denied" and "2.5" not in r.text


def test_no_key_a_key_without_api_or_a_free_tier_gets_nothing(api, store, team, runs):
    assert api("GET", "/v1/reconcile").status_code == 401
    narrow = store.create_key("acme", CONFIG, permissions=("calls", "dashboard"))
    r = api("GET", "/v1/reconcile", narrow.key)
    assert r.status_code == 403 and r.json()["error"]["permission"] == "api"
    store.create_account("tiny", "free")
    free = store.create_key("tiny", CONFIG)
    assert api("GET", "/v1/reconcile", free.key).status_code == 403


def test_bad_run_ids_are_refused_naming_the_field(api, team):
    for bad in ("abc", "0", "-1", "99999999999999999999999"):
        r = api("GET", f"/v1/reconcile/{bad}", team["owner"].key)
        assert r.status_code in (400, 422), (bad, r.text)
        assert "run_id" in r.text

