"""Team access and webhooks end to end: a real `serve`, a real mitmdump, and a receiver on
127.0.0.1 that verifies every delivery with the official `standardwebhooks` package."""

from __future__ import annotations

import json
import time

import httpx2
import pytest

from aispendtrack.config import parse_config
from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import db as dbmod
from aispendtrack.store import open_store

from support.harness import Proxy, Serve, http
from support.webhooks import Receiver, cli, wait_for


@pytest.fixture
def setup(tmp_path):
    db_path = tmp_path / "aispendtrack.db"
    store = open_store(db_path)
    config_path = tmp_path / "mitm.toml"
    config_path.write_text('[tiers.pro]\nrequests_per_hour = 1\n[webhooks]\nallow_hosts = ["127.0.0.1"]\n'
                           'allow_private_networks = true\n')  # the receiver is local
    config = parse_config({"tiers": {"pro": {"requests_per_hour": 1}}})
    yield tmp_path, db_path, config_path, store, config
    store.close()


# -- roles × actions through the API ------------------------------------------------------------------

ROLES = ("owner", "admin", "member", "viewer")


def _matrix():
    """(action, {role: expected status})"""
    return [
        ("list members", {"owner": 200, "admin": 200, "member": 403, "viewer": 403}),
        ("add member", {"owner": 201, "admin": 201, "member": 403, "viewer": 403}),
        ("add owner", {"owner": 201, "admin": 403, "member": 403, "viewer": 403}),
        ("remove member", {"owner": 204, "admin": 204, "member": 403, "viewer": 403}),
        ("remove owner", {"owner": 204, "admin": 403, "member": 403, "viewer": 403}),
        ("create own key", {"owner": 201, "admin": 201, "member": 201, "viewer": 403}),
        ("create key for a member", {"owner": 201, "admin": 201, "member": 403, "viewer": 403}),
        ("create key for an owner", {"owner": 201, "admin": 403, "member": 403, "viewer": 403}),
        ("rotate a member's key", {"owner": 200, "admin": 200, "member": 404, "viewer": 404}),
        ("rotate an owner's key", {"owner": 200, "admin": 403, "member": 404, "viewer": 404}),
        ("revoke own key", {"owner": 204, "admin": 204, "member": 204, "viewer": 403}),
        ("read usage", {"owner": 200, "admin": 200, "member": 200, "viewer": 200}),
        ("list webhooks", {"owner": 200, "admin": 200, "member": 403, "viewer": 403}),
        ("add webhook", {"owner": 201, "admin": 201, "member": 403, "viewer": 403}),
    ]


def test_role_by_action_matrix(setup):
    tmp, db_path, config_path, store, config = setup
    store.create_account("team", "enterprise", owner="olga")
    plain = {"owner": store.create_key("team", config).key}
    for role in ROLES[1:]:
        store.add_member("team", f"the-{role}", role, config)
        plain[role] = store.create_key("team", config, member=f"the-{role}").key
    serial = iter(range(10_000))

    def target(role: str) -> str:
        name = f"t{next(serial)}-{role}"
        store.add_member("team", name, role, config)
        return name

    def run(action: str, role: str, me: str) -> int:
        n = next(serial)
        if action == "list members":
            return http("GET", base + "/v1/members", plain[role])[0]
        if action in ("add member", "add owner"):
            return http("POST", base + "/v1/members", plain[role],
                        {"name": f"new{n}", "role": "owner" if action == "add owner" else "member"})[0]
        if action in ("remove member", "remove owner"):
            name = target("owner" if action == "remove owner" else "member")
            return http("DELETE", f"{base}/v1/members/{name}", plain[role])[0]
        if action == "create own key":
            return http("POST", base + "/v1/keys", plain[role], {"name": f"k{n}"})[0]
        if action.startswith("create key for"):
            name = target("owner" if action.endswith("owner") else "member")
            return http("POST", base + "/v1/keys", plain[role], {"member": name})[0]
        if action.startswith("rotate"):
            name = target("owner" if action.endswith("owner's key") else "member")
            key_id = store.create_key("team", config, member=name).id
            return http("POST", f"{base}/v1/keys/{key_id}/rotate", plain[role])[0]
        if action == "revoke own key":
            key_id = store.create_key("team", config, member=me).id
            return http("DELETE", f"{base}/v1/keys/{key_id}", plain[role])[0]
        if action == "read usage":
            return http("GET", base + "/v1/usage", plain[role])[0]
        if action == "list webhooks":
            return http("GET", base + "/v1/webhooks", plain[role])[0]
        if action == "add webhook":
            return http("POST", base + "/v1/webhooks", plain[role], {"url": "http://127.0.0.1:9/h"})[0]
        raise AssertionError(action)

    with Serve(tmp, db_path, config_path) as serve:
        base = serve.url
        got = {(action, role): run(action, role, "olga" if role == "owner" else f"the-{role}")
               for action, _ in _matrix() for role in ROLES}
        # members and viewers see only their own keys; owner/admin all of them
        listed = {role: {k["member"] for k in json.loads(http("GET", base + "/v1/keys", plain[role])[1])}
                  for role in ROLES}
        me = {role: json.loads(http("GET", base + "/v1/me", plain[role])[1])["role"] for role in ROLES}
    expected = {(action, role): status for action, by_role in _matrix() for role, status in by_role.items()}
    assert got == expected
    assert listed["member"] == {"the-member"} and listed["viewer"] == {"the-viewer"}
    assert len(listed["owner"]) > 3 and listed["owner"] == listed["admin"]
    assert me == {r: r for r in ROLES}


def test_roles_compose_with_key_permissions_and_tiers(setup):
    tmp, db_path, config_path, store, config = setup
    store.create_account("team", "pro")
    no_team = store.create_key("team", config, permissions=("api", "webhooks")).key
    store.create_account("solo", "free")
    with Serve(tmp, db_path, config_path) as serve:
        status, body = http("GET", serve.url + "/v1/members", no_team)
        assert (status, json.loads(body)["error"]["permission"]) == (403, "team")
        status, body = http("POST", serve.url + "/v1/keys", no_team, {"permissions": ["api", "team"]})
        assert status == 403  # an owner key still gives no permission it lacks
        assert http("GET", serve.url + "/v1/webhooks", no_team)[0] == 200
        for url, why in (("http://hooks.example.com/x", "allow_hosts"), ("ftp://127.0.0.1/x", "http://"),
                         ("http://u:p@127.0.0.1/x", "credentials")):
            status, body = http("POST", serve.url + "/v1/webhooks", no_team, {"url": url})
            assert status == 400 and why in json.loads(body)["error"]["message"]
    result = cli(db_path, config_path, "members", "add", "solo", "bob", "--role", "member")
    assert result.returncode != 0 and "team access needs the pro or enterprise tier" in result.stderr


# -- webhooks ------------------------------------------------------------------------------------------


def test_events_arrive_signed_and_the_secret_is_shown_once(setup):
    tmp, db_path, config_path, store, config = setup
    store.create_account("acme", "pro")
    owner = store.create_key("acme", config).key
    with Receiver() as receiver, Serve(tmp, db_path, config_path) as serve:
        status, body = http("POST", serve.url + "/v1/webhooks", owner, {"url": receiver.url("/hook")})
        assert status == 201
        created = json.loads(body)
        secret = created["secret"]
        assert secret.startswith("whsec_")
        receiver.secrets["/hook"] = secret
        new = json.loads(http("POST", serve.url + "/v1/keys", owner, {"name": "ci"})[1])
        assert http("POST", f"{serve.url}/v1/keys/{new['id']}/rotate", owner)[0] == 200
        assert http("DELETE", f"{serve.url}/v1/keys/{new['id']}", owner)[0] == 204
        assert cli(db_path, config_path, "members", "add", "acme", "bob", "--role", "viewer").returncode == 0
        assert cli(db_path, config_path, "members", "remove", "acme", "bob").returncode == 0
        wait_for(lambda: len(receiver.delivered()) >= 5, what="five events")
        listed = http("GET", serve.url + "/v1/webhooks", owner)[1]
        deliveries = http("GET", f"{serve.url}/v1/webhooks/{created['id']}/deliveries", owner)[1]
        cli_list = cli(db_path, config_path, "webhooks", "list", "--json").stdout
    assert receiver.bad == []
    # delivery order is not guaranteed (a batch goes out in parallel); event timestamps order them
    in_order = sorted(receiver.delivered(), key=lambda p: p["timestamp"])
    assert [p["type"] for p in in_order] == ["key.created", "key.rotated", "key.revoked", "member.added",
                                             "member.removed"]
    assert receiver.delivered("key.created")[0]["data"]["key_id"] == new["id"]
    assert new["key"] not in json.dumps(receiver.delivered())
    assert len(json.loads(deliveries)) == 5 and {d["status"] for d in json.loads(deliveries)} == {200}
    for text in (listed.decode(), deliveries.decode(), cli_list, serve.output(), db_path.read_bytes().decode("latin-1")
                 .replace(secret, "", 1)):
        assert secret not in text and secret[6:] not in text


def test_kill9_of_serve_loses_no_event(setup):
    tmp, db_path, config_path, store, config = setup
    store.create_account("acme", "enterprise")
    with Receiver() as receiver:
        row, receiver.secrets["/k"] = store.add_endpoint("acme", receiver.url("/k"), None)
        receiver.status = 503
        serve = Serve(tmp, db_path, config_path).start()
        try:
            for i in range(10):
                store.create_key("acme", config, name=f"k{i}")
            wait_for(lambda: len(receiver.got) >= 10, what="first attempts")
            serve.kill9()
            for i in range(10, 15):  # changes while no worker runs
                store.create_key("acme", config, name=f"k{i}")
            receiver.status = 200
            serve = Serve(tmp, db_path, config_path).start()
            wait_for(lambda: len(receiver.delivered()) >= 15, timeout=30, what="every event after restart")
        finally:
            serve.stop()
    names = sorted(p["data"]["name"] for p in receiver.delivered())
    assert names == sorted(f"k{i}" for i in range(15))  # each once: a 200 marks it delivered
    assert receiver.bad == []
    database = dbmod.connect(db_path)
    try:
        states = database.execute("SELECT state, COUNT(*) FROM webhook_messages GROUP BY state").fetchall()
    finally:
        database.conn.close()
    assert states == [("delivered", 15)]


def test_burst_of_500_refusals_gives_one_limit_event(setup, fake_provider):
    tmp, db_path, config_path, store, config = setup
    store.create_account("acme", "pro")  # 1 request per hour (the test config)
    key = store.create_key("acme", config)
    with Receiver() as receiver:
        _, receiver.secrets["/limits"] = store.add_endpoint("acme", receiver.url("/limits"),
                                                             ("limit.hourly_reached",))
        proxy = Proxy(tmp, db_path, modes={"openai": "reverse:" + fake_provider.url + "@{port}"},
                      config_text=config_path.read_text()).start()
        serve = Serve(tmp, db_path, config_path).start()
        try:
            with httpx2.Client(timeout=30) as client:
                statuses = [client.post(proxy.url("openai") + "/v1/embeddings", headers={HEADER: key.key},
                                        json={"model": "text-embedding-3-small", "input": "x"}).status_code
                            for _ in range(501)]
            assert statuses.count(200) == 1 and statuses.count(429) == 500
            wait_for(lambda: receiver.delivered("limit.hourly_reached"), what="limit.hourly_reached")
            time.sleep(1.5)  # a few more delivery passes: nothing else may come
        finally:
            serve.stop()
            proxy.stop()
    (event,) = receiver.delivered()
    assert event["data"]["key_id"] == key.id and event["data"]["limit"] == 1
    assert receiver.bad == []


@pytest.fixture
def fake_provider():
    from aispendtrack.demo.fake.server import FakeProvider

    with FakeProvider().start() as fake:
        yield fake
