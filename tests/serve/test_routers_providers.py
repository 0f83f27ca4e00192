"""`/v1/providers` in process: owners and admins store, list and remove the account's
provider keys and set its vault mode; the secret is write-only (in no answer, no list, no
row); members, viewers and other accounts are out of reach; without a master key serve
refuses to store (503) rather than make one."""

import pytest

from aispendtrack.vault import keyfile

SECRET = "sk-proj-SERVE-PLAINTEXT-SECRET-7777"


def put(api, key, provider="openai", **body):
    return api("PUT", f"/v1/providers/{provider}", key, json={"secret": SECRET, **body})


@pytest.fixture
def master_key(vault_key_file):
    keyfile.load(create=True)  # as `aispendtrack providers set` makes it on first use
    return vault_key_file


def test_an_admin_stores_a_key_that_never_comes_back(api, team, store, master_key):
    r = put(api, team["ada"].key)
    assert r.status_code == 200, r.text
    assert r.json()["hint"] == "sk-…7777" and r.json()["decrypts"] and r.json()["set_by"].startswith("ada (")
    assert SECRET not in r.text
    listing = api("GET", "/v1/providers", team["owner"].key)
    assert [(k["provider"], k["key_id"], k["decrypts"]) for k in listing.json()] == [("openai", None, True)]
    assert SECRET not in listing.text and "secret" not in listing.json()[0]
    r = put(api, team["owner"].key, "anthropic", key_id=team["mia"].id)
    assert r.status_code == 200 and r.json()["key_id"] == team["mia"].id
    assert api("POST", "/v1/providers/mode", team["owner"].key, json={"mode": "require"}).status_code == 204
    assert store.vault_modes() == {store.get_account("acme").id: "require"}
    assert api("DELETE", "/v1/providers/openai", team["ada"].key).status_code == 204
    assert api("DELETE", "/v1/providers/openai", team["ada"].key).status_code == 404
    assert [k.provider for k in store.list_credentials("acme")] == ["anthropic"]
    assert SECRET.encode() not in b"".join(p.read_bytes() for p in store_files(store))


def store_files(store):
    from pathlib import Path

    db = Path(store.target)
    return [p for p in db.parent.iterdir() if p.name.startswith(db.name)]


@pytest.mark.parametrize("caller", ["mia", "vic"])
def test_members_and_viewers_cannot_touch_provider_keys(api, team, store, master_key, caller):
    put(api, team["owner"].key)
    key = team[caller].key
    for method, path, body in (("GET", "/v1/providers", None), ("PUT", "/v1/providers/openai", {"secret": "x" * 20}),
                               ("DELETE", "/v1/providers/openai", None),
                               ("POST", "/v1/providers/mode", {"mode": "inject"})):
        r = api(method, path, key, json=body)
        assert r.status_code == 403 and r.json()["error"]["type"] == "role_denied", (method, path, r.text)
    assert len(store.list_credentials("acme")) == 1 and store.vault_modes() == {}


def test_another_account_is_out_of_reach(api, team, store, master_key):
    put(api, team["owner"].key)
    rival = team["rival"].key
    assert api("GET", "/v1/providers", rival).json() == []
    assert api("DELETE", "/v1/providers/openai", rival).status_code == 404
    # a key of acme named by rival: the same answer as a key that does not exist
    foreign = put(api, rival, key_id=team["mia"].id)
    missing = put(api, rival, key_id="key_000000000000")
    assert foreign.status_code == missing.status_code == 400
    assert foreign.json()["error"]["message"].replace(team["mia"].id, "K") == \
        missing.json()["error"]["message"].replace("key_000000000000", "K")
    assert [r.account for r in store.list_credentials()] == ["acme"]


def test_bad_input_is_named(api, team, master_key):
    owner = team["owner"].key
    assert "unknown provider 'nope'" in put(api, owner, "nope").json()["error"]["message"]
    r = api("PUT", "/v1/providers/openai", owner, json={"secret": "   "})
    assert r.status_code == 400 and "secret: empty" in r.text
    r = api("PUT", "/v1/providers/openai", owner, json={"secret": SECRET, "extra": 1})
    assert r.status_code in (400, 422) and SECRET not in r.text
    r = api("POST", "/v1/providers/mode", owner, json={"mode": "sometimes"})
    assert r.status_code in (400, 422) and "mode" in r.text


def test_without_a_master_key_serve_refuses_to_store(api, team, store, vault_key_file):
    r = put(api, team["owner"].key)
    assert r.status_code == 503 and "no vault master key" in r.json()["error"]["message"]
    assert not vault_key_file.exists() and store.list_credentials() == []
