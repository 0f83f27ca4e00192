"""`/v1/budgets` in process: owners and admins set and clear the account's and its keys'
budgets with the CLI's rules, and the next admission already answers to them; members and
viewers only read; nobody reaches another account's key."""

import time
from decimal import Decimal

import pytest

from aispendtrack.limits import budget as rules
from aispendtrack.store import budgets
from aispendtrack.store.api.traffic import Admission


def test_an_owner_sets_reads_and_clears_budgets_in_force_at_once(api, team, store):
    owner, mia = team["owner"].key, team["mia"]
    r = api("POST", "/v1/budgets", owner, json={"scope": "account", "usd": "50", "period": "month"})
    assert r.status_code == 201, r.text
    assert (r.json()["subject"], r.json()["limit_usd"], r.json()["period"]) == ("acme", "50", "month")
    r = api("POST", "/v1/budgets", owner, json={"scope": "key", "key_id": mia.id, "usd": "0.25", "period": "day"})
    assert r.status_code == 201 and r.json()["remaining_usd"] == "0.25"
    listed = {(b["scope"], b["subject"]): b for b in api("GET", "/v1/budgets", owner).json()}
    assert set(listed) == {("account", "acme"), ("key", mia.id)}
    # the next admission answers to it: a call bound over $0.25 on mia's key is refused
    over = store.admit(Admission(mia.id, "acme", None, None, time.time(),
                                 budgets.Charge(rules.to_nano(Decimal("0.30")), None)))
    assert not over.admitted
    r = api("DELETE", f"/v1/budgets?scope=key&key_id={mia.id}", owner)
    assert r.status_code == 200 and r.json()["cleared"] is True
    assert store.admit(Admission(mia.id, "acme", None, None, time.time(),
                                 budgets.Charge(rules.to_nano(Decimal("0.30")), None))).admitted
    assert api("DELETE", f"/v1/budgets?scope=key&key_id={mia.id}", owner).json()["cleared"] is False


def test_an_admin_may_members_and_viewers_only_read(api, team):
    assert api("POST", "/v1/budgets", team["ada"].key, json={"scope": "account", "usd": "5"}).status_code == 201
    for name in ("mia", "vic"):
        r = api("POST", "/v1/budgets", team[name].key, json={"scope": "key", "key_id": team[name].id, "usd": "1"})
        assert r.status_code == 403, r.text
        assert api("DELETE", "/v1/budgets?scope=account", team[name].key).status_code == 403
        got = api("GET", "/v1/budgets", team[name].key)
        assert got.status_code == 200 and ("account", "acme") in {(b["scope"], b["subject"]) for b in got.json()}


def test_another_accounts_key_is_not_acknowledged(api, team):
    r = api("POST", "/v1/budgets", team["rival"].key, json={"scope": "key", "key_id": team["mia"].id, "usd": "1"})
    assert r.status_code == 404 and "acme" not in r.text
    assert api("DELETE", f"/v1/budgets?scope=key&key_id={team['mia'].id}", team["rival"].key).status_code == 404
    assert api("GET", "/v1/budgets", team["rival"].key).json() == []


@pytest.mark.parametrize("body, status, fragment", [
    ({"scope": "account", "usd": "-1"}, 400, "usd"),
    ({"scope": "account", "usd": "ten"}, 400, "usd"),
    ({"scope": "account", "usd": "5", "period": "year"}, 422, "period"),
    ({"scope": "key", "usd": "5"}, 400, "key_id"),
    ({"scope": "account", "key_id": "key_x", "usd": "5"}, 400, "key_id"),
    ({"scope": "team", "usd": "5"}, 422, "scope"),
    ({"scope": "account", "usd": "5", "extra": 1}, 422, "extra"),
])
def test_bad_requests_name_the_field_and_change_nothing(api, team, body, status, fragment):
    r = api("POST", "/v1/budgets", team["owner"].key, json=body)
    assert r.status_code == status and fragment in r.json()["error"]["message"], r.text
    assert api("GET", "/v1/budgets", team["owner"].key).json() == []


def test_no_key_or_a_key_without_api_gets_nothing(api, team, store):
    from support.team import CONFIG

    narrowed = store.create_key("acme", CONFIG, name="ci", permissions=("calls",))
    assert api("GET", "/v1/budgets").status_code == 401
    assert api("POST", "/v1/budgets", narrowed.key, json={"scope": "account", "usd": "1"}).status_code == 403
