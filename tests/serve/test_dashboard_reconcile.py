"""The dashboard's reconciliation card and run page in process: owners and admins see their
account's share (newest run per provider, the last good one beside a failure, the rows that
do not match first); members and viewers see neither the card nor a run page nor its JSON;
another account's run is not there."""

from datetime import date

import pytest
from fastapi.testclient import TestClient

from aispendtrack.config import parse_config
from aispendtrack.serve.app import create_app

from support.reconcile_reports import report
from support.team import CONFIG

BASE = f"http://{CONFIG.serve.listen}"


@pytest.fixture
def runs(store, team):
    both = store.save_reconcile(report(unexplained="2.5", names=("acme", "rival")), accounts=["acme", "rival"])
    failed = store.save_reconcile_failure("openai", date(2026, 3, 5), date(2026, 3, 5),
                                          "OpenAI's admin API answered 401: the admin key is not valid",
                                          accounts=["acme", "rival"])
    rival = store.save_reconcile(report("anthropic", account="rival", unexplained="9.75", gap_of="rival",
                                        names=("rival",)))
    return {"both": both, "failed": failed, "rival": rival}


@pytest.fixture
def login(db_path):
    def as_(key: str, config=CONFIG) -> TestClient:
        client = TestClient(create_app(config, db_path, deliver=False), base_url=BASE)
        r = client.post("/login", data={"key": key}, headers={"origin": BASE}, follow_redirects=False)
        assert r.status_code == 303, r.text
        return client

    return as_


@pytest.mark.parametrize("name", ["owner", "ada"])
def test_owners_and_admins_see_the_card(login, team, runs, name):
    page = login(team[name].key).get("/").text
    assert 'data-testid="reconcile"' in page
    assert f'data-testid="reconcile-error-{runs["failed"]}">failed: OpenAI&#39;s admin API answered 401' in page
    assert f'data-testid="unexplained-{runs["both"]}" title="$2.5">$2.50<' in page  # the last good run stays beside the failure
    assert f'href="/dashboard/reconcile/{runs["both"]}"' in page
    assert f'<tr class="hit" data-testid="reconcile-{runs["both"]}">' in page  # $2.5 is above drift_usd $1.00
    assert f'<tr class="hit" data-testid="reconcile-{runs["failed"]}">' in page
    assert f'reconcile-{runs["rival"]}"' not in page and "$9.75" not in page


def test_the_run_page_shows_the_account_s_own_rows(login, team, runs):
    client = login(team["owner"].key)
    r = client.get(f"/dashboard/reconcile/{runs['both']}")
    assert r.status_code == 200, r.text
    off = r.text.split('data-testid="reconcile-off"')[1].split("</table>")[0]
    matching = r.text.split('data-testid="reconcile-matching"')[1].split("</table>")[0]
    assert off.count("<tr class=\"hit\">") == 1 and "gateway under" in off and "$2.5" in off
    assert matching.count("<td>matches</td>") == 1  # acme's; rival's matching row is not shown
    assert "proj_other" not in r.text and "rival" not in r.text and r.headers["cache-control"] == "no-store"
    assert client.get(f"/dashboard/reconcile/{runs['rival']}").status_code == 404
    assert client.get("/dashboard/reconcile/424242").status_code == 404


def test_no_card_without_runs_until_a_schedule_is_set(login, store, team):
    assert 'data-testid="reconcile' not in login(team["owner"].key).get("/").text
    daily = parse_config({"tiers": {"pro": {"max_keys": 20}}, "reconcile": {"schedule": "daily"}})
    assert 'data-testid="reconcile-none"' in login(team["owner"].key, daily).get("/").text


@pytest.mark.parametrize("name", ["mia", "vic"])
def test_members_and_viewers_see_nothing_of_it(login, team, runs, name):
    client = login(team[name].key)
    page = client.get("/").text
    assert 'data-testid="reconcile' not in page and "$2.5" not in page and "admin API" not in page
    for run_id in runs.values():
        r = client.get(f"/dashboard/reconcile/{run_id}")
        assert r.status_code == 403 and "gateway under" not in r.text and "$2.5" not in r.text
    live = client.get("/dashboard/live.json")
    assert live.status_code == 200 and "reconcile" not in live.text


def test_without_a_session_the_run_page_is_the_login_form(db_path, team, runs):
    client = TestClient(create_app(CONFIG, db_path, deliver=False), base_url=BASE)
    r = client.get(f"/dashboard/reconcile/{runs['both']}")
    assert r.status_code == 401 and "gateway under" not in r.text and 'name="key"' in r.text
