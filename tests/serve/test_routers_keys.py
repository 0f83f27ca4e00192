"""`/v1/keys` in process: list, create, rotate and revoke, within the caller's account, role
and own permissions — each way around them tried and refused."""

import pytest

from aispendtrack.config import parse_config

from support.team import CONFIG


def listed(api, key) -> dict[str, dict]:
    r = api("GET", "/v1/keys", key)
    assert r.status_code == 200, r.text
    return {k["id"]: k for k in r.json()}


def works(api, key) -> bool:
    return api("GET", "/v1/me", key).status_code == 200


def test_owner_and_admin_list_the_account_members_and_viewers_their_own(api, team):
    acme = {team[n].id for n in ("owner", "ada", "mia", "vic")}
    for name in ("owner", "ada"):
        assert set(listed(api, team[name].key)) == acme  # never rival's
    for name in ("mia", "vic"):
        only = listed(api, team[name].key)
        assert set(only) == {team[name].id} and only[team[name].id]["member"] == name
    for k in listed(api, team["owner"].key).values():
        assert set(k) >= {"hint", "state", "permissions"} and "key" not in k


def test_a_member_creates_a_working_key_of_their_own_shown_once(api, team):
    r = api("POST", "/v1/keys", team["mia"].key, json={"name": "laptop"})
    assert r.status_code == 201, r.text
    new = r.json()
    assert (new["account"], new["name"], new["models"]) == ("acme", "laptop", None)
    assert new["permissions"] == ["calls", "dashboard", "export", "team", "webhooks", "api"]  # the caller's own
    assert works(api, new["key"])
    assert listed(api, team["mia"].key)[new["id"]]["member"] == "mia"
    assert new["key"] not in api("GET", "/v1/keys", team["owner"].key).text


def test_a_new_key_never_gets_more_than_the_calling_key(api, store):
    store.create_account("acme", "pro")
    narrow = store.create_key("acme", CONFIG, permissions=("calls", "api"), models=("gpt-4o-mini",)).key
    for body, what in (({"permissions": ["api", "export"]}, "export"),
                       ({"permissions": ["api"], "models": ["*"]}, "models"),
                       ({"permissions": ["api"], "models": ["gpt-4o-mini", "gpt-4o"]}, "models")):
        r = api("POST", "/v1/keys", narrow, json=body)
        assert r.status_code == 403 and r.json()["error"]["permission"] == what, r.text
    inherited = api("POST", "/v1/keys", narrow, json={}).json()
    assert (inherited["permissions"], inherited["models"]) == (["calls", "api"], ["gpt-4o-mini"])
    assert len(store.list_keys("acme")) == 2  # nothing was made by the refused calls


@pytest.mark.parametrize("caller, member, status", [
    ("vic", None, 403),      # viewers make no key changes, not even their own
    ("mia", "ada", 403),     # a member acts only on their own keys
    ("mia", "vic", 403),     # ... even a viewer's
    ("ada", "owner", 403),   # an admin not on an owner's
    ("ada", "mia", 201),
    ("owner", "ada", 201),
    ("ada", "nobody", 404),
])
def test_whose_key_a_caller_may_create(api, team, store, caller, member, status):
    before = len(store.list_keys("acme"))
    r = api("POST", "/v1/keys", team[caller].key, json={"member": member} if member else {})
    assert r.status_code == status, r.text
    if status == 201:
        assert r.json()["account"] == "acme" and listed(api, team["owner"].key)[r.json()["id"]]["member"] == member
    else:
        assert r.json()["error"]["type"] == ("not_found" if status == 404 else "role_denied")
        assert len(store.list_keys("acme")) == before


def test_keys_of_others_are_not_even_acknowledged(api, team):
    """Another account's key, or for a member another member's: 404 to revoke or rotate, and
    it keeps working."""
    for caller, target in (("owner", "rival"), ("rival", "mia"), ("mia", "ada"), ("mia", "owner")):
        for method, path in (("DELETE", f"/v1/keys/{team[target].id}"), ("POST", f"/v1/keys/{team[target].id}/rotate")):
            r = api(method, path, team[caller].key)
            assert r.status_code == 404 and r.json()["error"]["type"] == "not_found", (caller, target, r.text)
        assert works(api, team[target].key)


def test_an_admin_may_not_revoke_or_rotate_an_owners_key(api, team):
    for method, path in (("DELETE", f"/v1/keys/{team['owner'].id}"), ("POST", f"/v1/keys/{team['owner'].id}/rotate")):
        r = api(method, path, team["ada"].key)
        assert r.status_code == 403 and r.json()["error"]["type"] == "role_denied"
    assert works(api, team["owner"].key)


def test_a_narrowed_key_may_not_revoke_a_broader_one(api, team, store):
    """Revoking or rotating is acting on the target: the caller needs every permission it has."""
    narrow = store.create_key("acme", CONFIG, name="api-only", permissions=("api",)).key
    r = api("DELETE", f"/v1/keys/{team['mia'].id}", narrow)
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_denied"
    assert works(api, team["mia"].key)


def test_rotate_keeps_the_old_secret_for_the_grace_only_and_revoke_is_in_force_at_once(api, team):
    r = api("POST", f"/v1/keys/{team['mia'].id}/rotate", team["ada"].key)
    assert r.status_code == 200, r.text
    assert r.json()["key"] != team["mia"].key and r.json()["id"] == team["mia"].id  # a new secret, the same key
    assert works(api, team["mia"].key) and works(api, r.json()["key"])  # the old one during the grace
    no_grace = parse_config({"tiers": {"pro": {"max_keys": 20}}, "keys": {"rotation_grace_seconds": 0}})
    newer = api("POST", f"/v1/keys/{team['vic'].id}/rotate", team["owner"].key, config=no_grace).json()["key"]
    assert not works(api, team["vic"].key) and works(api, newer)
    assert api("DELETE", f"/v1/keys/{team['mia'].id}", team["mia"].key).status_code == 204  # a member: their own
    assert not works(api, r.json()["key"]) and not works(api, team["mia"].key)


@pytest.mark.parametrize("body, status, fragment", [
    ({"expires": "2030-01-01T00:00:00"}, 400, "time zone"),
    ({"expires": "2000-01-01T00:00:00Z"}, 400, "expires"),
    ({"expires_in": "0d"}, 400, "expires_in: give a duration above zero"),
    ({"expires_in": "36601d"}, 400, "expires_in: give a duration above zero and at most 100 years"),
    ({"expires_in": "2030-01-01"}, 400, "expires_in: use a duration"),
    ({"expires_in": "soon"}, 400, "expires_in"),
    ({"expires_in": "30d", "expires": "2030-01-01T00:00:00Z"}, 400, "not both"),
    ({"tags": {"env": "a,b"}}, 400, "tags: the value of tag 'env'"),
    ({"tags": {"bad name": "x"}}, 400, "tags: tag name 'bad name' is not allowed"),
    ({"tags": {f"t{i}": "v" for i in range(11)}}, 400, "tags: at most 10 tags"),
    ({"tags": "env=ci"}, 422, "tags"),
    ({"permissions": ["root"]}, 400, "unknown permission 'root'"),
    ({"models": []}, 400, "model list is empty"),
    ({"owner": "x"}, 422, "owner"),
    ({"name": "x" * 201}, 422, "name"),
])
def test_bad_input_is_a_clear_error_naming_the_field(api, team, body, status, fragment):
    r = api("POST", "/v1/keys", team["owner"].key, json=body)
    assert r.status_code == status and fragment in r.json()["error"]["message"], r.text


def test_expires_in_is_a_duration_from_now_as_the_clis(api, team):
    from datetime import timedelta

    from aispendtrack.store.db import parse_iso, utcnow

    before = utcnow()
    r = api("POST", "/v1/keys", team["owner"].key, json={"name": "ci", "expires_in": "30d"})
    assert r.status_code == 201, r.text
    listed = {k["id"]: k for k in api("GET", "/v1/keys", team["owner"].key).json()}
    expires = parse_iso(listed[r.json()["id"]]["expires"])
    assert before + timedelta(days=30) - timedelta(seconds=1) <= expires <= utcnow() + timedelta(days=30)


def test_default_tags_are_kept_and_listed(api, team):
    r = api("POST", "/v1/keys", team["owner"].key, json={"name": "ci", "tags": {"Env": "ci", "team": "search"}})
    assert r.status_code == 201 and r.json()["tags"] == {"env": "ci", "team": "search"}, r.text
    listed = {k["id"]: k for k in api("GET", "/v1/keys", team["owner"].key).json()}
    assert listed[r.json()["id"]]["tags"] == {"env": "ci", "team": "search"}
    assert listed[team["mia"].id]["tags"] is None
    rotated = api("POST", f"/v1/keys/{r.json()['id']}/rotate", team["owner"].key).json()
    assert rotated["tags"] == {"env": "ci", "team": "search"}
