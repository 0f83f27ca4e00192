"""`aispendtrack serve` and the proxy on one database: permissions, least-privilege keys,
numbers equal to the CLI's, and key changes in force on the very next request."""

from __future__ import annotations

import json
import subprocess

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aispendtrack.config import parse_config
from aispendtrack.limits.permissions import PERMISSIONS, models_within
from aispendtrack.store import db as dbmod
from aispendtrack.store import open_store
from aispendtrack.store.keytext import NewKey
from aispendtrack.store.records import KeyStoreError

from support.clock import month, utc_today, within_one
from support.harness import MITMDUMP, http, proxy_and_serve

# Enough keys per tier for the matrix; the rest of each tier is its documented default.
CONFIG = "".join(f"[tiers.{t}]\nmax_keys = 50\n" for t in ("free", "pro"))
CLI = str(MITMDUMP.parent / "aispendtrack")

ENDPOINTS = [  # (method, path, body, the permissions it needs besides api)
    ("GET", "/v1/me", None, ()),
    ("GET", "/v1/usage?by=day", None, ()),
    ("GET", "/v1/calls?format=jsonl", None, ("export",)),
    ("GET", "/v1/calls?format=csv", None, ("export",)),
    ("GET", "/v1/keys", None, ()),
    # no escalation: only a key with calls may give calls
    ("POST", "/v1/keys", {"name": "child", "permissions": ["calls"]}, ("calls",)),
]
NARROWED = {  # label → the key's own permissions (None: all its tier allows)
    "full": None,
    "calls+dashboard": ("calls", "dashboard"),
    "api": ("api",),
    "api+export": ("api", "export"),
    "calls+api": ("calls", "api"),
}
TIER_PERMS = {"free": {"calls", "dashboard"}, "pro": set(PERMISSIONS), "enterprise": set(PERMISSIONS)}


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    """One database, one proxy, one serve process, one fake provider for the module."""
    tmp = tmp_path_factory.mktemp("serve")
    db_path = tmp / "aispendtrack.db"
    open_store(db_path).close()
    with proxy_and_serve(tmp, db_path, CONFIG) as (fake, proxy, serve):
        yield {"db_path": db_path, "config_path": tmp / "mitm.toml", "proxy": proxy, "serve": serve,
               "fake": fake, "config": parse_config({"tiers": {"free": {"max_keys": 50}, "pro": {"max_keys": 50}}})}


def new_key(plane, account, tier, *, permissions=None, models=None, name=None) -> NewKey:
    with open_store(plane["db_path"]) as store:
        try:
            store.get_account(account)
        except KeyStoreError:
            store.create_account(account, tier)
        return store.create_key(account, plane["config"], name=name, permissions=permissions, models=models)


def chat(plane, key: str, model: str = "gpt-4o-mini"):
    client = openai.OpenAI(base_url=plane["proxy"].url("openai") + "/v1", api_key="sk-test", max_retries=0,
                           default_headers={"x-aispendtrack-key": key})
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def cli(plane, *args) -> str:
    return subprocess.run([CLI, "--config", str(plane["config_path"]), "--db", str(plane["db_path"]), *args],
                          check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("tier", ["free", "pro", "enterprise"])
@pytest.mark.parametrize("narrowed", list(NARROWED))
def test_permission_matrix(plane, tier, narrowed):
    own = NARROWED[narrowed]
    if own is not None and not set(own) <= TIER_PERMS[tier]:
        with pytest.raises(KeyStoreError, match="tier has no"):
            new_key(plane, f"m-{tier}", tier, permissions=own)
        return
    key = new_key(plane, f"m-{tier}", tier, permissions=own).key
    effective = TIER_PERMS[tier] & (set(own) if own is not None else set(PERMISSIONS))
    for method, path, body, extra in ENDPOINTS:
        status, raw = http(method, plane["serve"].url + path, key, body)
        missing = [p for p in ("api", *extra) if p not in effective]
        if missing:
            assert status == 403, (path, raw)
            err = json.loads(raw)["error"]
            assert (err["type"], err["permission"], err["tier"]) == ("permission_denied", missing[0], tier)
            if method == "POST" and missing[0] != "api":
                assert "cannot give" in err["message"]
            elif missing[0] in TIER_PERMS[tier]:
                assert f"created without {missing[0]}" in err["message"]
            else:
                assert "needs the pro or enterprise tier" in err["message"]
        else:
            assert status in (200, 201), (path, raw)
        assert key.encode() not in raw and key[4:].encode() not in raw
    if "calls" in effective:
        assert chat(plane, key).choices
    else:
        with pytest.raises(openai.PermissionDeniedError) as e:
            chat(plane, key)
        assert key not in str(e.value.body)
        assert last_outcome(plane) == "forbidden"


def last_outcome(plane) -> str:
    import time

    database = dbmod.connect(plane["db_path"])
    try:
        for _ in range(100):  # the ledger writer commits asynchronously
            row = database.execute("SELECT outcome, status FROM calls ORDER BY ts DESC, id DESC LIMIT 1").fetchone()
            if row and row[1] == 403:
                return row[0]
            time.sleep(0.05)
        return row[0] if row else None
    finally:
        database.conn.close()


def test_model_allow_list_in_the_proxy(plane):
    key = new_key(plane, "models", "pro", models=("gpt-4o-mini", "claude-*")).key
    before = len(plane["fake"].received)
    assert chat(plane, key, "gpt-4o-mini").choices
    with pytest.raises(openai.PermissionDeniedError) as e:
        chat(plane, key, "gpt-4o")
    assert "gpt-4o" in e.value.message and "limited to: gpt-4o-mini, claude-*" in e.value.message
    assert len(plane["fake"].received) == before + 1, "the forbidden model was forwarded"
    assert last_outcome(plane) == "forbidden"
    status, raw = http("GET", plane["serve"].url + "/v1/me", key)
    assert status == 200 and json.loads(raw)["models"] == ["gpt-4o-mini", "claude-*"]


@pytest.mark.period
def test_api_numbers_equal_report_and_export(plane):
    key = new_key(plane, "numbers", "enterprise").key
    for model in ("gpt-4o-mini", "gpt-4o", "gpt-4o-mini"):
        chat(plane, key, model)
    http("GET", plane["serve"].url + "/v1/me", key)

    def read():
        """/v1/usage and `report` by day up to today, /v1/me and `report` of this month."""
        usage = {by: (json.loads(http("GET", plane["serve"].url + f"/v1/usage?by={by}&since=2020-01-01", key)[1]),
                      json.loads(cli(plane, "report", "--json", "--account", "numbers", "--by", by,
                                     "--since", "2020-01-01")))
                 for by in ("day", "model", "key")}
        me = json.loads(http("GET", plane["serve"].url + "/v1/me", key)[1])
        since = month(utc_today()).isoformat()
        return usage, me, json.loads(cli(plane, "report", "--json", "--account", "numbers", "--since", since))

    (usage, me, this_month), _ = within_one(read)
    for api, cli_report in usage.values():
        assert api == cli_report
        assert cli_report["totals"]["calls"] == 3
    for fmt in ("jsonl", "csv"):
        _, raw = http("GET", plane["serve"].url + f"/v1/calls?format={fmt}", key)
        assert raw.decode() == cli(plane, "export", "--format", fmt, "--account", "numbers")
    assert len(raw.decode().splitlines()) == 4  # header + 3 calls
    assert me["spend_month_usd"] == this_month["totals"]["cost_usd"]
    assert me["hour"] == {"limit": None, "used": 3, "remaining": None, "reset_seconds": None}


def test_refusals_never_echo_a_key(plane):
    good = new_key(plane, "echo", "free").key  # free: no api
    revoked = new_key(plane, "echo", "free")
    cli(plane, "keys", "revoke", revoked.id)
    unknown = "ask_" + "Zq9" * 10 + "Zq"
    for key in (good, revoked.key, unknown, unknown[:-1], good + "x"):
        for method, path, body, _ in ENDPOINTS:
            status, raw = http(method, plane["serve"].url + path, key, body)
            assert status in (401, 403)
            assert json.loads(raw)["error"]["message"]
            assert key.encode() not in raw and key[4:20].encode() not in raw
    status, raw = http("GET", plane["serve"].url + f"/v1/me?key={good}")
    assert status == 400 and good.encode() not in raw
    assert good not in plane["serve"].output()


def test_cli_key_changes_are_exact_at_return(plane):
    """create → works at once; rotate → the new secret works at once; revoke → refused at once."""
    for _ in range(3):
        created = json.loads(cli(plane, "keys", "create", "exact", "--json")) if _ else None
        if created is None:
            new_key(plane, "exact", "enterprise")
            created = json.loads(cli(plane, "keys", "create", "exact", "--json"))
        assert chat(plane, created["key"]).choices
        rotated = json.loads(cli(plane, "keys", "rotate", created["id"], "--json"))
        assert chat(plane, rotated["key"]).choices
        cli(plane, "keys", "revoke", created["id"])
        before = len(plane["fake"].received)
        with pytest.raises(openai.AuthenticationError):
            chat(plane, rotated["key"])
        assert len(plane["fake"].received) == before


def test_api_key_changes_are_exact_at_return(plane):
    admin = new_key(plane, "loop", "enterprise").key
    url = plane["serve"].url
    for _ in range(15):
        status, raw = http("POST", url + "/v1/keys", admin, {"name": "loop"})
        assert status == 201
        new = json.loads(raw)
        assert chat(plane, new["key"]).choices
        status, raw = http("POST", url + f"/v1/keys/{new['id']}/rotate", admin)
        assert status == 200
        rotated = json.loads(raw)["key"]
        assert chat(plane, rotated).choices
        assert http("DELETE", url + f"/v1/keys/{new['id']}", admin)[0] == 204
        before = len(plane["fake"].received)
        with pytest.raises(openai.AuthenticationError):
            chat(plane, rotated)
        assert len(plane["fake"].received) == before, "a revoked key was forwarded"


def test_set_tier_upgrade_and_refused_downgrade(plane):
    key = new_key(plane, "upgrade", "free").key
    assert http("GET", plane["serve"].url + "/v1/me", key)[0] == 403
    cli(plane, "accounts", "set-tier", "upgrade", "pro")
    status, raw = http("GET", plane["serve"].url + "/v1/me", key)
    assert status == 200 and json.loads(raw)["tier"] == "pro"
    new_key(plane, "upgrade", "pro")
    with open_store(plane["db_path"]) as store:
        with pytest.raises(KeyStoreError, match=r"revoke \d+ first \(key_") as e:
            store.set_tier("upgrade", "free", parse_config({}))
        assert "free tier allows 1" in str(e.value)


OPS = st.lists(st.tuples(
    st.sampled_from(["create", "rotate", "revoke"]),
    st.integers(0, 20),  # which held key acts
    st.integers(0, 20),  # which held key is the target
    st.none() | st.lists(st.sampled_from(PERMISSIONS), max_size=4),
    st.none() | st.lists(st.sampled_from(["gpt-4o-mini", "gpt-4o", "claude-*", "*", "gpt-*"]), min_size=1, max_size=3),
), min_size=1, max_size=8)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=OPS)
def test_no_sequence_of_api_calls_escalates_a_key(plane, ops):
    """Whatever keys do to each other, every key the API hands out has only permissions and
    models of the key that asked for it, and a rotate hands out only such keys."""
    url = plane["serve"].url
    root = new_key(plane, "escalate", "pro", permissions=("api", "calls"), models=("gpt-4o-mini", "claude-*"))
    held = [{"id": root.id, "key": root.key, "permissions": {"api", "calls"}, "models": ("gpt-4o-mini", "claude-*")}]
    for op, actor_i, target_i, perms_req, models_req in ops:
        actor, target = held[actor_i % len(held)], held[target_i % len(held)]
        if op == "create":
            body = {"permissions": perms_req, "models": models_req}
            status, raw = http("POST", url + "/v1/keys", actor["key"], {k: v for k, v in body.items() if v is not None})
            if status == 201:
                new = json.loads(raw)
                assert set(new["permissions"]) <= actor["permissions"]
                assert models_within(tuple(new["models"]) if new["models"] else None, actor["models"])
                held.append({"id": new["id"], "key": new["key"], "permissions": set(new["permissions"]),
                             "models": tuple(new["models"]) if new["models"] else None})
        elif op == "rotate":
            status, raw = http("POST", url + f"/v1/keys/{target['id']}/rotate", actor["key"])
            if status == 200:
                assert target["permissions"] <= actor["permissions"]
                assert models_within(target["models"], actor["models"])
                target["key"] = json.loads(raw)["key"]
        else:
            status, _ = http("DELETE", url + f"/v1/keys/{target['id']}", actor["key"])
        assert status in (200, 201, 204, 401, 403, 409), (op, status)
    with open_store(plane["db_path"]) as store:
        for k in store.list_keys("escalate"):  # what the store holds, root's and its heirs'
            if k.revoked is None:
                assert set(k.permissions) <= {"api", "calls"}
                assert models_within(k.models, ("gpt-4o-mini", "claude-*"))
    database = dbmod.connect(plane["db_path"])
    try:
        database.execute("UPDATE keys SET revoked = '2000-01-01' WHERE account_id = "
                         "(SELECT id FROM accounts WHERE name = 'escalate')")  # the cap is per example
    finally:
        database.conn.close()
