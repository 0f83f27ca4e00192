"""`/v1/webhooks` in process: owner/admin keys with `webhooks` manage the account's endpoints;
the signing secret is in the creating or rotating answer only; other accounts' endpoints are
out of reach; addresses off the public internet are refused."""

import pytest

from support.team import CONFIG

PUBLIC = "https://93.184.215.14/hook"  # a public address literal: no DNS, and nothing is sent here


def add(api, key, url=PUBLIC, **body):
    return api("POST", "/v1/webhooks", key, json={"url": url, **body})


def test_an_admin_adds_an_endpoint_and_sees_its_secret_only_once(api, team, store):
    r = add(api, team["ada"].key, events=["key.created"])
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["secret"].startswith("whsec_") and (made["url"], made["events"], made["state"]) == (
        PUBLIC, ["key.created"], "enabled")
    listing = api("GET", "/v1/webhooks", team["owner"].key)
    assert [e["id"] for e in listing.json()] == [made["id"]]
    assert "secret" not in listing.json()[0] and made["secret"] not in listing.text
    assert made["secret"] not in str(store.get_endpoint(made["id"]))
    assert api("GET", f"/v1/webhooks/{made['id']}/deliveries", team["ada"].key).json() == []


@pytest.mark.parametrize("caller", ["mia", "vic"])
def test_members_and_viewers_have_no_webhooks(api, team, caller):
    wh = add(api, team["owner"].key).json()["id"]
    key = team[caller].key
    for method, path in (("GET", "/v1/webhooks"), ("POST", "/v1/webhooks"), ("DELETE", f"/v1/webhooks/{wh}"),
                         ("POST", f"/v1/webhooks/{wh}/rotate-secret"), ("GET", f"/v1/webhooks/{wh}/deliveries")):
        r = api(method, path, key, json={"url": PUBLIC} if method == "POST" else None)
        assert r.status_code == 403 and r.json()["error"]["type"] == "role_denied", (method, path, r.text)
    assert len(api("GET", "/v1/webhooks", team["owner"].key).json()) == 1


def test_an_owner_key_without_webhooks_is_refused(api, team, store):
    narrow = store.create_key("acme", CONFIG, name="no-hooks", permissions=("api", "team")).key
    r = add(api, narrow)
    assert r.status_code == 403 and r.json()["error"]["permission"] == "webhooks"
    assert store.list_endpoints("acme") == []


def test_another_accounts_endpoint_is_out_of_reach(api, team, store):
    made = add(api, team["owner"].key).json()
    rival = team["rival"].key
    assert api("GET", "/v1/webhooks", rival).json() == []
    for method, path in (("DELETE", f"/v1/webhooks/{made['id']}"), ("POST", f"/v1/webhooks/{made['id']}/rotate-secret"),
                         ("GET", f"/v1/webhooks/{made['id']}/deliveries")):
        r = api(method, path, rival)
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found", (method, r.text)
    assert store.get_endpoint(made["id"], "acme").previous_secret_until is None  # not rotated


def test_rotate_gives_a_new_secret_and_remove_deletes(api, team, store):
    made = add(api, team["owner"].key).json()
    r = api("POST", f"/v1/webhooks/{made['id']}/rotate-secret", team["ada"].key)
    assert r.status_code == 200, r.text
    assert r.json()["secret"].startswith("whsec_") and r.json()["secret"] != made["secret"]
    assert r.json()["previous_secret_until"] is not None  # the old one signs during the grace
    assert api("DELETE", f"/v1/webhooks/{made['id']}", team["ada"].key).status_code == 204
    assert store.list_endpoints("acme") == []


@pytest.mark.parametrize("url, fragment", [
    ("http://127.0.0.1:9/hook", "127.0.0.1 is loopback"),
    ("http://10.0.0.1/hook", "10.0.0.1 is private"),
    ("https://user:pw@93.184.215.14/hook", "credentials"),
    ("ftp://93.184.215.14/hook", "http"),
])
def test_addresses_off_the_public_internet_and_bad_urls_are_refused(api, team, store, url, fragment):
    r = add(api, team["owner"].key, url)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request", r.text
    assert fragment in r.json()["error"]["message"] and "user:pw" not in r.text
    assert store.list_endpoints("acme") == []


def test_unknown_event_and_extra_field_name_the_problem(api, team):
    r = add(api, team["owner"].key, events=["key.exploded"])
    assert r.status_code == 400 and "key.exploded" in r.json()["error"]["message"]
    r = add(api, team["owner"].key, secret="whsec_mine")
    assert r.status_code == 422 and "secret" in r.json()["error"]["message"]
