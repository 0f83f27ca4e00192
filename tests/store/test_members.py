"""store.members: owners, roles, the free-tier single member, removal revoking keys."""

from __future__ import annotations

import json

import pytest

from aispendtrack.store import db as dbmod
from aispendtrack.store import members, open_store
from aispendtrack.store.records import KeyStoreError


def call(key_id, account, cost) -> dict:
    """A ledger row of one forwarded call now, as the proxy's ledger writer writes it."""
    return {"ts": dbmod.utcnow(), "key_id": key_id, "account": account, "provider": "openai", "api": "chat",
            "model": "gpt-4o", "status": 200, "outcome": "forwarded", "streamed": False,
            "pricing": "priced" if cost else None, "cost_usd": cost}


def messages(database, type_=None) -> list[dict]:
    rows = database.execute("SELECT type, payload FROM webhook_messages ORDER BY created, id")
    return [json.loads(p) for t, p in rows if type_ is None or t == type_]


def test_account_has_its_owner_and_keys_default_to_it(store, config):
    store.create_account("acme", "pro", owner="ann")
    new = store.create_key("acme", config)
    assert [(m.name, m.role, m.keys) for m in store.list_members("acme")] == [("ann", "owner", 1)]
    assert store.member_of_key(new.id).name == "ann"


def test_free_account_has_exactly_one_member(store, config):
    store.create_account("solo", "free")
    with pytest.raises(KeyStoreError, match="team access needs the pro or enterprise tier"):
        store.add_member("solo", "bob", "member", config)
    assert len(store.list_members("solo")) == 1


@pytest.mark.parametrize("bad", ["", "boss", "Owner"])
def test_unknown_role_is_refused(store, config, bad):
    store.create_account("acme", "pro")
    with pytest.raises(KeyStoreError, match="unknown role"):
        store.add_member("acme", "bob", bad, config)


def test_duplicate_member_and_unknown_member(store, config):
    store.create_account("acme", "pro")
    store.add_member("acme", "bob", "viewer", config)
    with pytest.raises(KeyStoreError, match="already has a member"):
        store.add_member("acme", "bob", "admin", config)
    with pytest.raises(KeyStoreError, match="no member 'carl'"):
        store.create_key("acme", config, member="carl")


def test_remove_member_revokes_their_keys_only_and_emits_events(store, database, config):
    store.create_account("acme", "pro")
    row, _ = store.add_endpoint("acme", "http://127.0.0.1:9/h", None)
    store.add_member("acme", "bob", "member", config)
    mine = store.create_key("acme", config)
    bobs = [store.create_key("acme", config, member="bob").id for _ in range(2)]
    assert sorted(store.remove_member("acme", "bob")) == sorted(bobs)
    states = {k.id: k.state(dbmod.iso(dbmod.utcnow())) for k in store.list_keys("acme")}
    assert states == {mine.id: "active", bobs[0]: "revoked", bobs[1]: "revoked"}
    assert [m.name for m in store.list_members("acme")] == ["owner"]
    types = [m["type"] for m in messages(database)]
    # the removal's events share one instant: their order among themselves is not kept
    assert types[:4] == ["member.added", "key.created", "key.created", "key.created"]
    assert sorted(types[4:]) == ["key.revoked", "key.revoked", "member.removed"]
    removed = messages(database, "member.removed")[0]["data"]
    assert removed == {"account": "acme", "member": "bob", "role": "member", "revoked_keys": bobs}
    # the name is free again
    store.add_member("acme", "bob", "viewer", config)


def test_last_owner_stays(store, config):
    store.create_account("acme", "enterprise")
    with pytest.raises(KeyStoreError, match="only owner"):
        store.remove_member("acme", "owner")
    store.add_member("acme", "zoe", "owner", config)
    store.remove_member("acme", "owner")
    assert [m.name for m in store.list_members("acme")] == ["zoe"]


def test_database_from_before_members_gets_owners(tmp_path, config):
    database = dbmod.connect(tmp_path / "old.db")
    database.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, tier TEXT NOT NULL, "
                     "created TEXT NOT NULL, requests_per_hour INTEGER, monthly_calls INTEGER)")
    database.execute("CREATE TABLE keys (id TEXT PRIMARY KEY, account_id INTEGER NOT NULL, name TEXT, created TEXT "
                     "NOT NULL, last_used TEXT, revoked TEXT, expires TEXT)")
    database.execute("INSERT INTO accounts (name, tier, created) VALUES ('old', 'pro', '2026-01-01T00:00:00Z')")
    database.execute("INSERT INTO keys (id, account_id, created) VALUES ('key_000000000001', 1, '2026-01-01T00:00:00Z')")
    database.conn.close()
    open_store(tmp_path / "old.db").close()
    with open_store(tmp_path / "old.db") as store:  # idempotent
        assert [(m.name, m.role, m.keys) for m in store.list_members("old")] == [("owner", "owner", 1)]
        assert store.member_of_key("key_000000000001").role == "owner"


def test_member_spend_and_report_by_member(store, config):
    from aispendtrack.views.members import member_spend
    from aispendtrack.views.report import report

    store.create_account("acme", "pro")
    store.add_member("acme", "bob", "member", config)
    mine = store.create_key("acme", config)
    bobs = store.create_key("acme", config, member="bob")
    store.record([call(key_id, "acme", cost) for key_id, cost in ((mine.id, "0.5"), (bobs.id, "1.25"),
                                                                   (bobs.id, "0.25"))])
    groups = {g.key.label: (g.stats.calls, str(g.stats.cost_usd)) for g in report(store, by="member").groups}
    assert groups == {"acme/bob": (2, "1.5"), "acme/owner": (1, "0.5")}
    rows = member_spend(store, "acme")
    assert [(r["member"], r["role"], r["calls"], r["cost_usd"]) for r in rows] == [
        ("bob", "member", 2, "1.5"), ("owner", "owner", 1, "0.5")]
    bob_id = store.get_member("acme", "bob").id
    assert [r["member"] for r in member_spend(store, "acme", member_id=bob_id)] == ["bob"]


def test_report_by_member_keeps_accounts_apart(run):
    """Every account's first member is `owner`: two accounts' owners are two groups."""
    run("accounts", "create", "acme", "--tier", "pro")
    run("accounts", "create", "beta", "--tier", "pro")
    calls = [call(json.loads(run("keys", "create", account, "--json").output)["id"], account, cost)
             for account, cost in (("acme", "0.5"), ("acme", "0.25"), ("beta", "2"))]
    calls.append({**call(None, None, None), "status": 401, "outcome": "rejected", "pricing": None})
    with open_store(run.db) as store:
        store.record(calls)
    data = json.loads(run("report", "--by", "member", "--json").output)
    assert [(g["key"], g["account"], g["member"], g["calls"], g["cost_usd"]) for g in data["groups"]] == [
        ("beta/owner", "beta", "owner", 1, "2"), ("acme/owner", "acme", "owner", 2, "0.75"),
        (None, None, None, 1, "0")]
    text = run("report", "--by", "member").output
    assert "beta/owner" in text and "acme/owner" in text and "(none)/" not in text
    assert [g["key"] for g in json.loads(run("report", "--by", "member", "--account", "acme", "--json")
                                         .output)["groups"]] == ["acme/owner"]


def test_set_role_and_its_event(store, database, config):
    store.create_account("acme", "pro", owner="ann")
    store.add_endpoint("acme", "https://93.184.215.14/h", None)
    store.add_member("acme", "bob", "viewer", config)
    assert store.set_role("acme", "bob", "admin") == "viewer"
    assert store.get_member("acme", "bob").role == "admin"
    assert messages(database, "member.role_changed")[-1]["data"] == {
        "account": "acme", "member": "bob", "role": "admin", "previous_role": "viewer"}
    with pytest.raises(KeyStoreError, match="only owner"):
        store.set_role("acme", "ann", "admin")
    with pytest.raises(KeyStoreError, match="unknown role"):
        store.set_role("acme", "bob", "Owner")


@pytest.mark.parametrize("actor, target, role, allowed", [
    ("admin", "member", "admin", True),  # up to its own role
    ("admin", "admin", "viewer", True),
    ("admin", "member", "owner", False),  # never above its own role
    ("admin", "owner", "viewer", False),  # nor touching anyone above it
    ("admin", "owner", "owner", False),
    ("member", "viewer", "member", True),  # the store's rule alone; the API also requires admin
    ("member", "viewer", "admin", False),
    ("owner", "owner", "member", True),
])
def test_set_role_never_above_the_actor(store, config, actor, target, role, allowed):
    store.create_account("acme", "pro", owner="first")
    store.add_member("acme", "target", target, config)
    if allowed:
        store.set_role("acme", "target", role, up_to=actor)
        assert store.get_member("acme", "target").role == role
    else:
        with pytest.raises(members.RoleDenied):
            store.set_role("acme", "target", role, up_to=actor)
        assert store.get_member("acme", "target").role == target


def test_downgrade_holds_the_keys_of_members_beyond_the_owner(store, config):
    from aispendtrack.auth.records import lookup as lookup_one

    store.create_account("acme", "pro", owner="ann")
    store.add_member("acme", "bob", "admin", config)
    ann = store.create_key("acme", config)
    bob = store.create_key("acme", config, member="bob")
    store.set_tier("acme", "free", config)  # free allows 1 key: bob's is held, not counted
    assert lookup_one(store, config, ann.key).reason is None
    reason = lookup_one(store, config, bob.key).reason
    assert "belongs to member 'bob'" in reason and "free tier" in reason and "owner's keys" in reason
    with pytest.raises(KeyStoreError, match="only the owner's keys work"):
        store.create_key("acme", config, member="bob")
    with pytest.raises(KeyStoreError, match="maximum of 1"):
        store.create_key("acme", config)  # ann's one key is the free tier's one
    store.revoke_key(ann.id)
    store.create_key("acme", config)  # bob's held key does not take the owner's place
    store.set_tier("acme", "pro", config)
    assert lookup_one(store, config, bob.key).reason is None  # back on upgrade, never revoked


def test_downgrade_when_only_a_member_holds_a_key(store, config):
    """The hole: the free tier's one key held by someone other than the owner kept working."""
    from aispendtrack.auth.records import lookup as lookup_one

    store.create_account("acme", "pro", owner="ann")
    store.add_member("acme", "bob", "member", config)
    bob = store.create_key("acme", config, member="bob")
    store.set_tier("acme", "free", config)
    assert "without team access" in lookup_one(store, config, bob.key).reason
    store.create_key("acme", config)  # the owner gets the free tier's one key
