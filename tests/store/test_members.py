"""store.members: owners, roles, the free-tier single member, removal revoking keys."""

from __future__ import annotations

import json

import pytest

from aispendtrack.store import db as dbmod
from aispendtrack.store import keys, members, outbox


def messages(database, type_=None) -> list[dict]:
    rows = database.execute("SELECT type, payload FROM webhook_messages ORDER BY rowid").fetchall()
    return [json.loads(p) for t, p in rows if type_ is None or t == type_]


def test_account_has_its_owner_and_keys_default_to_it(database, config):
    keys.create_account(database, "acme", "pro", owner="ann")
    new = keys.create_key(database, "acme", config)
    assert [(m["name"], m["role"], m["keys"]) for m in members.list_members(database, "acme")] == [("ann", "owner", 1)]
    assert members.of_key(database, new.id)["name"] == "ann"


def test_free_account_has_exactly_one_member(database, config):
    keys.create_account(database, "solo", "free")
    with pytest.raises(keys.KeyStoreError, match="team access needs the pro or enterprise tier"):
        members.add_member(database, "solo", "bob", "member", config)
    assert len(members.list_members(database, "solo")) == 1


@pytest.mark.parametrize("bad", ["", "boss", "Owner"])
def test_unknown_role_is_refused(database, config, bad):
    keys.create_account(database, "acme", "pro")
    with pytest.raises(keys.KeyStoreError, match="unknown role"):
        members.add_member(database, "acme", "bob", bad, config)


def test_duplicate_member_and_unknown_member(database, config):
    keys.create_account(database, "acme", "pro")
    members.add_member(database, "acme", "bob", "viewer", config)
    with pytest.raises(keys.KeyStoreError, match="already has a member"):
        members.add_member(database, "acme", "bob", "admin", config)
    with pytest.raises(keys.KeyStoreError, match="no member 'carl'"):
        keys.create_key(database, "acme", config, member="carl")


def test_remove_member_revokes_their_keys_only_and_emits_events(database, config):
    keys.create_account(database, "acme", "pro")
    row, _ = outbox.add_endpoint(database, "acme", "http://127.0.0.1:9/h", None)
    members.add_member(database, "acme", "bob", "member", config)
    mine = keys.create_key(database, "acme", config)
    bobs = [keys.create_key(database, "acme", config, member="bob").id for _ in range(2)]
    assert sorted(members.remove_member(database, "acme", "bob")) == sorted(bobs)
    states = {k["id"]: keys.key_state(k, dbmod.iso(dbmod.utcnow())) for k in keys.list_keys(database, "acme")}
    assert states == {mine.id: "active", bobs[0]: "revoked", bobs[1]: "revoked"}
    assert [m["name"] for m in members.list_members(database, "acme")] == ["owner"]
    types = [m["type"] for m in messages(database)]
    assert types == ["member.added", "key.created", "key.created", "key.created", "key.revoked", "key.revoked",
                     "member.removed"]
    removed = messages(database, "member.removed")[0]["data"]
    assert removed == {"account": "acme", "member": "bob", "role": "member", "revoked_keys": bobs}
    # the name is free again
    members.add_member(database, "acme", "bob", "viewer", config)


def test_last_owner_stays(database, config):
    keys.create_account(database, "acme", "enterprise")
    with pytest.raises(keys.KeyStoreError, match="only owner"):
        members.remove_member(database, "acme", "owner")
    members.add_member(database, "acme", "zoe", "owner", config)
    members.remove_member(database, "acme", "owner")
    assert [m["name"] for m in members.list_members(database, "acme")] == ["zoe"]


def test_database_from_before_members_gets_owners(tmp_path, config):
    database = dbmod.connect(tmp_path / "old.db")
    database.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, tier TEXT NOT NULL, "
                     "created TEXT NOT NULL, requests_per_hour INTEGER, monthly_calls INTEGER)")
    database.execute("CREATE TABLE keys (id TEXT PRIMARY KEY, account_id INTEGER NOT NULL, name TEXT, created TEXT "
                     "NOT NULL, last_used TEXT, revoked TEXT, expires TEXT)")
    database.execute("INSERT INTO accounts (name, tier, created) VALUES ('old', 'pro', '2026-01-01T00:00:00Z')")
    database.execute("INSERT INTO keys (id, account_id, created) VALUES ('key_000000000001', 1, '2026-01-01T00:00:00Z')")
    keys.ensure_schema(database)
    keys.ensure_schema(database)  # idempotent
    assert [(m["name"], m["role"], m["keys"]) for m in members.list_members(database, "old")] == [("owner", "owner", 1)]
    assert members.of_key(database, "key_000000000001")["role"] == "owner"


def test_member_spend_and_report_by_member(database, config):
    from aispendtrack.views.members import member_spend
    from aispendtrack.views.report import report

    keys.create_account(database, "acme", "pro")
    members.add_member(database, "acme", "bob", "member", config)
    mine = keys.create_key(database, "acme", config)
    bobs = keys.create_key(database, "acme", config, member="bob")
    cols = "ts, key_id, account, provider, api, model, status, outcome, streamed, pricing, cost_usd"
    for key_id, cost in ((mine.id, "0.5"), (bobs.id, "1.25"), (bobs.id, "0.25")):
        database.execute(f"INSERT INTO calls ({cols}) VALUES (?, ?, 'acme', 'openai', 'chat', 'gpt-4o', 200, "
                         "'forwarded', 0, 'priced', ?)", [dbmod.iso(dbmod.utcnow()), key_id, cost])
    groups = {g.key.label: (g.stats.calls, str(g.stats.cost_usd)) for g in report(database, by="member").groups}
    assert groups == {"acme/bob": (2, "1.5"), "acme/owner": (1, "0.5")}
    rows = member_spend(database, "acme")
    assert [(r["member"], r["role"], r["calls"], r["cost_usd"]) for r in rows] == [
        ("bob", "member", 2, "1.5"), ("owner", "owner", 1, "0.5")]
    bob_id = members.get_member(database, "acme", "bob")["id"]
    assert [r["member"] for r in member_spend(database, "acme", member_id=bob_id)] == ["bob"]


def test_report_by_member_keeps_accounts_apart(run):
    """Every account's first member is `owner`: two accounts' owners are two groups."""
    run("accounts", "create", "acme", "--tier", "pro")
    run("accounts", "create", "beta", "--tier", "pro")
    database = dbmod.connect(run.db)
    cols = "ts, key_id, account, provider, api, model, status, outcome, streamed, pricing, cost_usd"
    for account, cost in (("acme", "0.5"), ("acme", "0.25"), ("beta", "2")):
        key_id = json.loads(run("keys", "create", account, "--json").output)["id"]
        database.execute(f"INSERT INTO calls ({cols}) VALUES (?, ?, ?, 'openai', 'chat', 'gpt-4o', 200, "
                         "'forwarded', 0, 'priced', ?)", [dbmod.iso(dbmod.utcnow()), key_id, account, cost])
    database.execute(f"INSERT INTO calls ({cols}) VALUES (?, NULL, NULL, 'openai', 'chat', 'gpt-4o', 401, "
                     "'rejected', 0, NULL, NULL)", [dbmod.iso(dbmod.utcnow())])
    data = json.loads(run("report", "--by", "member", "--json").output)
    assert [(g["key"], g["account"], g["member"], g["calls"], g["cost_usd"]) for g in data["groups"]] == [
        ("beta/owner", "beta", "owner", 1, "2"), ("acme/owner", "acme", "owner", 2, "0.75"),
        (None, None, None, 1, "0")]
    text = run("report", "--by", "member").output
    assert "beta/owner" in text and "acme/owner" in text and "(none)/" not in text
    assert [g["key"] for g in json.loads(run("report", "--by", "member", "--account", "acme", "--json")
                                         .output)["groups"]] == ["acme/owner"]


def test_set_role_and_its_event(database, config):
    keys.create_account(database, "acme", "pro", owner="ann")
    outbox.add_endpoint(database, "acme", "https://93.184.215.14/h", None)
    members.add_member(database, "acme", "bob", "viewer", config)
    assert members.set_role(database, "acme", "bob", "admin") == "viewer"
    assert members.get_member(database, "acme", "bob")["role"] == "admin"
    assert messages(database, "member.role_changed")[-1]["data"] == {
        "account": "acme", "member": "bob", "role": "admin", "previous_role": "viewer"}
    with pytest.raises(keys.KeyStoreError, match="only owner"):
        members.set_role(database, "acme", "ann", "admin")
    with pytest.raises(keys.KeyStoreError, match="unknown role"):
        members.set_role(database, "acme", "bob", "Owner")


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
def test_set_role_never_above_the_actor(database, config, actor, target, role, allowed):
    keys.create_account(database, "acme", "pro", owner="first")
    members.add_member(database, "acme", "target", target, config)
    if allowed:
        members.set_role(database, "acme", "target", role, up_to=actor)
        assert members.get_member(database, "acme", "target")["role"] == role
    else:
        with pytest.raises(members.RoleDenied):
            members.set_role(database, "acme", "target", role, up_to=actor)
        assert members.get_member(database, "acme", "target")["role"] == target


def test_downgrade_holds_the_keys_of_members_beyond_the_owner(database, config):
    from aispendtrack.store.keycache import lookup_one

    keys.create_account(database, "acme", "pro", owner="ann")
    members.add_member(database, "acme", "bob", "admin", config)
    ann = keys.create_key(database, "acme", config)
    bob = keys.create_key(database, "acme", config, member="bob")
    keys.set_tier(database, "acme", "free", config)  # free allows 1 key: bob's is held, not counted
    assert lookup_one(database, config, ann.key).reason is None
    reason = lookup_one(database, config, bob.key).reason
    assert "belongs to member 'bob'" in reason and "free tier" in reason and "owner's keys" in reason
    with pytest.raises(keys.KeyStoreError, match="only the owner's keys work"):
        keys.create_key(database, "acme", config, member="bob")
    with pytest.raises(keys.KeyStoreError, match="maximum of 1"):
        keys.create_key(database, "acme", config)  # ann's one key is the free tier's one
    keys.revoke_key(database, ann.id)
    keys.create_key(database, "acme", config)  # bob's held key does not take the owner's place
    keys.set_tier(database, "acme", "pro", config)
    assert lookup_one(database, config, bob.key).reason is None  # back on upgrade, never revoked


def test_downgrade_when_only_a_member_holds_a_key(database, config):
    """The hole: the free tier's one key held by someone other than the owner kept working."""
    from aispendtrack.store.keycache import lookup_one

    keys.create_account(database, "acme", "pro", owner="ann")
    members.add_member(database, "acme", "bob", "member", config)
    bob = keys.create_key(database, "acme", config, member="bob")
    keys.set_tier(database, "acme", "free", config)
    assert "without team access" in lookup_one(database, config, bob.key).reason
    keys.create_key(database, "acme", config)  # the owner gets the free tier's one key
