"""`GET /v1/me` in process: who the key is and where it stands; only a valid key with `api`
gets an answer, and never from a key in the URL."""

import time

import pytest

from aispendtrack.store.api.traffic import Admission

from support.team import CONFIG


def test_me_names_the_key_its_member_and_role_and_counts_its_calls(api, team, store):
    mia = team["mia"]
    assert store.admit(Admission(mia.id, "acme", 10_000, None, time.time())).admitted
    r = api("GET", "/v1/me", mia.key)
    assert r.status_code == 200, r.text
    me = r.json()
    assert (me["key_id"], me["name"], me["account"], me["tier"]) == (mia.id, "mia", "acme", "pro")
    assert (me["member"], me["role"]) == ("mia", "member")
    assert me["permissions"] == ["calls", "dashboard", "export", "team", "webhooks", "api"] and me["models"] is None
    assert (me["hour"]["limit"], me["hour"]["used"], me["hour"]["remaining"]) == (10_000, 1, 9_999)
    assert me["month"]["limit"] is None and me["month"]["remaining"] is None
    assert me["budget"] == {"key": None, "account": None}
    assert mia.key not in r.text


def test_each_key_sees_only_itself(api, team):
    for name in ("owner", "ada", "vic", "rival"):
        me = api("GET", "/v1/me", team[name].key).json()
        assert me["key_id"] == team[name].id
        assert me["account"] == ("rival" if name == "rival" else "acme")


@pytest.mark.parametrize("headers, reason", [
    ({}, "missing x-aispendtrack-key"),
    ({"x-aispendtrack-key": "ask_" + "0" * 32}, "unknown"),
    ({"x-aispendtrack-key": "sk-proj-abc"}, "does not start with 'ask_'"),
])
def test_no_or_a_wrong_key_is_401(api, team, headers, reason):
    r = api("GET", "/v1/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "invalid_api_key" and reason in r.json()["error"]["message"]


def test_a_key_in_the_url_is_refused_even_when_the_header_is_valid(api, team):
    key = team["owner"].key
    for path in (f"/v1/me?key={key}", f"/v1/me?x-aispendtrack-key={key}"):
        r = api("GET", path, key)
        assert r.status_code == 400 and r.json()["error"]["type"] == "key_in_url"
        assert key not in r.text


def test_a_revoked_key_is_refused_at_once(api, team, store):
    assert api("GET", "/v1/me", team["vic"].key).status_code == 200
    store.revoke_key(team["vic"].id)
    r = api("GET", "/v1/me", team["vic"].key)
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_a_key_without_api_is_403_whatever_its_role(api, team, store):
    narrow = store.create_key("acme", CONFIG, name="calls-only", permissions=("calls", "dashboard"))
    r = api("GET", "/v1/me", narrow.key)
    assert r.status_code == 403
    assert (r.json()["error"]["type"], r.json()["error"]["permission"]) == ("permission_denied", "api")


def test_a_free_tier_key_has_no_api(api, store):
    store.create_account("penny", "free")
    key = store.create_key("penny", CONFIG).key
    r = api("GET", "/v1/me", key)
    assert r.status_code == 403 and r.json()["error"]["tier"] == "free"
