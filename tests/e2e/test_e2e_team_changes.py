"""Loose ends of the team features (issue 20, item 11), through a real mitmdump, a real
`serve` and the real CLI: a downgrade to free stops what free lacks and an upgrade brings
it back, `set-role` never raises anyone above the caller, and a rotated webhook secret
signs next to the old one only during its grace."""

from __future__ import annotations

import json
import re
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request

import openai
import pytest
from standardwebhooks import Webhook

from aispendtrack.config import parse_config
from aispendtrack.store import db as dbmod
from aispendtrack.store import open_store

from support.harness import Serve, http, proxy_and_serve
from support.webhooks import Receiver, cli, wait_for

# The receivers are local; a short grace to see it end; room for a few more keys.
CONFIG = "[webhooks]\nallow_private_networks = true\nrotation_grace_seconds = 10\n[tiers.pro]\nmax_keys = 10\n"
CONFIGURED = parse_config(tomllib.loads(CONFIG))


@pytest.fixture
def team(tmp_path):
    """Account acme (pro): owner ann, admin bob, member carl, viewer vic, one key each."""
    db_path = tmp_path / "aispendtrack.db"
    store = open_store(db_path)
    config = CONFIGURED
    store.create_account("acme", "pro", owner="ann")
    made = {"ann": store.create_key("acme", config, name="ann")}
    for name, role in (("bob", "admin"), ("carl", "member"), ("vic", "viewer")):
        store.add_member("acme", name, role, config)
        made[name] = store.create_key("acme", config, member=name, name=name)
    (tmp_path / "mitm.toml").write_text(CONFIG)
    yield {"tmp": tmp_path, "db_path": db_path, "store": store, "config_path": tmp_path / "mitm.toml",
           "key": {n: k.key for n, k in made.items()}, "id": {n: k.id for n, k in made.items()}}
    store.close()


def chat(proxy, key: str):
    client = openai.OpenAI(base_url=proxy.url("openai") + "/v1", api_key="sk-test", max_retries=0,
                           default_headers={"x-aispendtrack-key": key})
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def login(serve, key: str) -> str:
    """A dashboard session cookie for `key`."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    req = urllib.request.Request(serve.url + "/login", data=urllib.parse.urlencode({"key": key}).encode(),
                                 headers={"origin": serve.url, "content-type": "application/x-www-form-urlencoded"})
    try:
        urllib.request.build_opener(NoRedirect).open(req, timeout=20)
    except urllib.error.HTTPError as e:
        assert e.code == 303, e.read()
        return re.search(r"aispendtrack_session=([^;]+)", e.headers["set-cookie"]).group(1)
    raise AssertionError("login did not redirect")


def page(serve, path: str, cookie: str) -> int:
    req = urllib.request.Request(serve.url + path, headers={"cookie": f"aispendtrack_session={cookie}"})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def test_downgrade_to_free_stops_what_free_lacks_and_upgrade_restores_it(team):
    t, store = team, team["store"]
    ann, bob = t["key"]["ann"], t["key"]["bob"]
    with Receiver() as receiver:
        endpoint, receiver.secrets["/acme"] = store.add_endpoint("acme", receiver.url("/acme"), None)
        with proxy_and_serve(t["tmp"], t["db_path"], CONFIG) as (fake, proxy, serve):
            sessions = {"ann": login(serve, ann), "bob": login(serve, bob)}
            assert chat(proxy, bob).choices
            assert http("GET", serve.url + "/v1/calls?format=csv", ann)[0] == 200
            assert cli(t["db_path"], t["config_path"], "accounts", "set-tier", "acme", "free").returncode == 0

            # bob (beyond the owner) is refused everywhere, and nothing of his reaches the provider
            forwarded = len(fake.received)
            with pytest.raises(openai.AuthenticationError, match="without team access"):
                chat(proxy, bob)
            assert len(fake.received) == forwarded
            status, body = http("GET", serve.url + "/v1/me", bob)
            assert status == 401 and "without team access" in json.loads(body)["error"]["message"]
            assert page(serve, "/dashboard/live.json", sessions["bob"]) == 401

            # the owner keeps calls and the dashboard, loses export, the API and webhooks
            assert chat(proxy, ann).choices
            for path, permission in (("/v1/me", "api"), ("/v1/calls?format=csv", "export"),
                                     ("/v1/webhooks", "webhooks"), ("/v1/members", "team")):
                status, body = http("GET", serve.url + path, ann)
                assert (status, json.loads(body)["error"]["type"]) == (403, "permission_denied"), path
            assert page(serve, "/dashboard/live.json", sessions["ann"]) == 200
            assert page(serve, "/dashboard/export.csv", sessions["ann"]) == 403

            # webhooks: paused, not deleted; an event while free is never sent
            assert cli(t["db_path"], t["config_path"], "keys", "rotate", t["id"]["ann"]).returncode == 0
            (listed,) = json.loads(cli(t["db_path"], t["config_path"], "webhooks", "list", "--json").stdout)
            assert listed["id"] == endpoint.id and listed["paused"] and listed["disabled"] is None
            time.sleep(1.5)  # three delivery passes
            assert receiver.got == []

            assert cli(t["db_path"], t["config_path"], "accounts", "set-tier", "acme", "pro").returncode == 0
            assert chat(proxy, bob).choices
            assert http("GET", serve.url + "/v1/me", bob)[0] == 200
            assert cli(t["db_path"], t["config_path"], "keys", "create", "acme", "--name", "after").returncode == 0
            wait_for(lambda: receiver.delivered("key.created"), what="an event after the upgrade")
            time.sleep(1.0)
    assert receiver.bad == []
    assert [(p["type"], p["data"]["name"]) for p in receiver.delivered()] == [("key.created", "after")]


ROLE_CHANGES = [  # (actor, member, new role, expected status) in this order
    ("bob", "carl", "admin", 200),  # an admin may make an admin
    ("bob", "carl", "owner", 403),  # never above its own role
    ("bob", "bob", "owner", 403),  # not even itself
    ("bob", "ann", "viewer", 403),  # nor touch an owner
    ("carl", "ann", "member", 403),  # the admin made above: still no owner
    ("vic", "vic", "admin", 403),  # a viewer changes nothing
    ("vic", "carl", "viewer", 403),
    ("bob", "carl", "OWNER", 400),
    ("bob", "zed", "member", 404),
    ("ann", "bob", "owner", 200),
    ("ann", "ann", "member", 200),  # bob is an owner now
    ("bob", "bob", "admin", 409),  # the last owner stays one
    ("ann", "carl", "member", 403),  # ann is a member now: at once
]


def test_set_role_through_the_api_never_raises_anyone_above_the_caller(team):
    t = team
    no_team = t["store"].create_key("acme", CONFIGURED, member="bob", permissions=("api", "webhooks")).key
    with Serve(t["tmp"], t["db_path"], t["config_path"]) as serve:
        got = [http("PATCH", f"{serve.url}/v1/members/{name}", t["key"][actor], {"role": role})[0]
               for actor, name, role, _ in ROLE_CHANGES]
        status, body = http("PATCH", f"{serve.url}/v1/members/vic", no_team, {"role": "member"})
        assert (status, json.loads(body)["error"]["permission"]) == (403, "team")
        status, _ = http("PATCH", f"{serve.url}/v1/members/vic", t["key"]["bob"], {"role": "member", "name": "x"})
        assert status in (400, 422)
        # re-adding a member is no way around it either
        assert http("POST", serve.url + "/v1/members", t["key"]["carl"], {"name": "vic", "role": "owner"})[0] == 403
        roles = {m["name"]: m["role"] for m in json.loads(http("GET", serve.url + "/v1/members", t["key"]["bob"])[1])}
    assert got == [expected for *_, expected in ROLE_CHANGES]
    assert roles == {"ann": "member", "bob": "owner", "carl": "admin", "vic": "viewer"}


def _verifies(secret: str, got: dict) -> bool:
    try:
        Webhook(secret).verify(got["body"], got["headers"])
        return True
    except Exception:
        return False


def test_rotated_secret_both_sign_during_the_grace_then_only_the_new(team):
    t, store = team, team["store"]
    with Receiver() as receiver, Serve(t["tmp"], t["db_path"], t["config_path"]) as serve:
        status, body = http("POST", serve.url + "/v1/webhooks", t["key"]["bob"],
                            {"url": receiver.url("/h"), "events": ["key.created"]})
        assert status == 201
        endpoint, old = json.loads(body)["id"], json.loads(body)["secret"]
        receiver.secrets["/h"] = old  # the receiver still verifies with the old secret
        assert http("POST", f"{serve.url}/v1/webhooks/{endpoint}/rotate-secret", t["key"]["carl"])[0] == 403
        status, body = http("POST", f"{serve.url}/v1/webhooks/{endpoint}/rotate-secret", t["key"]["bob"])
        assert status == 200
        rotated = json.loads(body)
        new, until = rotated["secret"], dbmod.parse_iso(rotated["previous_secret_until"]).timestamp()
        assert new != old and new.startswith("whsec_")
        store.create_key("acme", CONFIGURED, name="during")
        (during,) = wait_for(lambda: receiver.got, what="a delivery during the grace")
        assert time.time() < until, "the delivery came after the grace: the test machine is too slow"
        receiver.secrets["/h"] = new  # the receiver moves to the new secret
        time.sleep(max(0.0, until - time.time()) + 0.5)
        store.create_key("acme", CONFIGURED, name="after")
        wait_for(lambda: len(receiver.got) >= 2, what="a delivery after the grace")
        listed = http("GET", serve.url + "/v1/webhooks", t["key"]["bob"])[1].decode()
    after = receiver.got[1]
    assert receiver.bad == []
    assert _verifies(old, during) and _verifies(new, during)
    assert _verifies(new, after) and not _verifies(old, after)
    assert old not in listed and new not in listed
    database = dbmod.connect(t["db_path"])
    try:
        assert database.execute("SELECT previous_secret FROM webhook_endpoints").fetchall() == [(None,)]
    finally:
        database.conn.close()
