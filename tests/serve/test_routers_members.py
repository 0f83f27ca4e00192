"""`/v1/members` in process: owner/admin keys with `team` manage the account's people; nobody
acts on or gives a role above their own, and other accounts' members are out of reach."""

import pytest

from support.team import CONFIG


def roles(store, account="acme") -> dict[str, str]:
    return {m.name: m.role for m in store.list_members(account)}


def test_owner_and_admin_list_the_accounts_members_with_their_key_counts(api, team):
    for name in ("owner", "ada"):
        r = api("GET", "/v1/members", team[name].key)
        assert r.status_code == 200, r.text
        assert {m["name"]: (m["role"], m["keys"]) for m in r.json()} == {
            "owner": ("owner", 1), "ada": ("admin", 1), "mia": ("member", 1), "vic": ("viewer", 1)}
    assert [m["name"] for m in api("GET", "/v1/members", team["rival"].key).json()] == ["owner"]


@pytest.mark.parametrize("caller", ["mia", "vic"])
def test_members_and_viewers_may_not_read_or_change_members(api, team, store, caller):
    key = team[caller].key
    for method, path, body in (("GET", "/v1/members", None), ("POST", "/v1/members", {"name": "x", "role": "viewer"}),
                               ("PATCH", f"/v1/members/{caller}", {"role": "owner"}), ("DELETE", "/v1/members/vic", None)):
        r = api(method, path, key, json=body)
        assert r.status_code == 403 and r.json()["error"]["type"] == "role_denied", (method, path, r.text)
    assert roles(store) == {"owner": "owner", "ada": "admin", "mia": "member", "vic": "viewer"}


def test_an_owner_key_without_team_is_refused(api, team, store):
    narrow = store.create_key("acme", CONFIG, name="no-team", permissions=("calls", "api")).key
    r = api("GET", "/v1/members", narrow)
    assert r.status_code == 403 and r.json()["error"]["permission"] == "team"


def test_an_admin_adds_up_to_admin_never_an_owner(api, team, store):
    ada = team["ada"].key
    r = api("POST", "/v1/members", ada, json={"name": "neo", "role": "admin"})
    assert r.status_code == 201 and (r.json()["name"], r.json()["role"], r.json()["keys"]) == ("neo", "admin", 0)
    r = api("POST", "/v1/members", ada, json={"name": "boss", "role": "owner"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "role_denied"
    assert "boss" not in roles(store)
    assert api("POST", "/v1/members", team["owner"].key, json={"name": "boss", "role": "owner"}).status_code == 201


def test_an_admin_changes_roles_only_up_to_their_own(api, team, store):
    ada = team["ada"].key
    r = api("PATCH", "/v1/members/vic", ada, json={"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    for name, role in (("mia", "owner"), ("owner", "viewer")):  # giving more, or acting on more
        r = api("PATCH", f"/v1/members/{name}", ada, json={"role": role})
        assert r.status_code == 403 and r.json()["error"]["type"] == "role_denied", r.text
    assert roles(store) == {"owner": "owner", "ada": "admin", "mia": "member", "vic": "admin"}


def test_removing_a_member_revokes_their_keys_but_never_above_the_callers_role(api, team, store):
    r = api("DELETE", "/v1/members/owner", team["ada"].key)
    assert r.status_code == 403 and api("GET", "/v1/me", team["owner"].key).status_code == 200
    assert api("DELETE", "/v1/members/mia", team["ada"].key).status_code == 204
    assert "mia" not in roles(store)
    assert api("GET", "/v1/me", team["mia"].key).status_code == 401


def test_another_accounts_members_are_out_of_reach(api, team, store):
    rival = team["rival"].key
    for method, body in (("PATCH", {"role": "viewer"}), ("DELETE", None)):
        r = api(method, "/v1/members/mia", rival, json=body)
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found", r.text
    assert roles(store)["mia"] == "member" and api("GET", "/v1/me", team["mia"].key).status_code == 200


def test_the_last_owner_stays(api, team, store):
    r = api("DELETE", "/v1/members/owner", team["owner"].key)
    assert r.status_code == 409 and "only owner" in r.json()["error"]["message"]
    r = api("PATCH", "/v1/members/owner", team["owner"].key, json={"role": "admin"})
    assert r.status_code == 409
    assert roles(store)["owner"] == "owner"


@pytest.mark.parametrize("method, path, body, status, fragment", [
    ("POST", "/v1/members", {"name": "x", "role": "boss"}, 400, "unknown role 'boss'"),
    ("POST", "/v1/members", {"name": "", "role": "viewer"}, 422, "name"),
    ("POST", "/v1/members", {"name": "x", "role": "viewer", "admin": True}, 422, "admin"),
    ("POST", "/v1/members", {"name": "mia", "role": "viewer"}, 409, "already has a member 'mia'"),
    ("PATCH", "/v1/members/mia", {"role": "boss"}, 400, "unknown role 'boss'"),
    ("PATCH", "/v1/members/nobody", {"role": "viewer"}, 404, "no member 'nobody'"),
])
def test_bad_input_is_a_clear_error(api, team, method, path, body, status, fragment):
    r = api(method, path, team["owner"].key, json=body)
    assert r.status_code == status and fragment in r.json()["error"]["message"], r.text
