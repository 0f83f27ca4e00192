"""Accounts and keys through the store, the same on SQLite and PostgreSQL: what each
operation returns, what it refuses (with the message an operator sees), and what it leaves
behind (credentials, versions, last use)."""

from datetime import UTC, datetime, timedelta

import pytest

from aispendtrack.config import Config, parse_config
from aispendtrack.store import keys
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.budgets import Charge
from aispendtrack.store.db import iso, parse_iso
from aispendtrack.store.records import Account, Credential, KeyInfo, KeyStoreError

CONFIG = Config()


def test_accounts_are_created_listed_and_refused_by_name(store):
    acme = store.create_account("acme", "pro")
    assert isinstance(acme, Account) and (acme.name, acme.tier) == ("acme", "pro")
    assert isinstance(acme.id, int) and acme.created.endswith("Z")
    assert (acme.requests_per_hour, acme.monthly_calls) == (None, None)
    store.create_account("007")  # a name of digits stays text
    assert [a.name for a in store.list_accounts()] == ["007", "acme"]
    assert store.get_account("007").tier == "free"
    assert store.get_account("acme") == acme
    with pytest.raises(KeyStoreError, match="account 'acme' already exists"):
        store.create_account("acme")
    with pytest.raises(KeyStoreError, match=r"no account named 'nope' \(create it with: aispendtrack accounts create nope\)"):
        store.get_account("nope")
    with pytest.raises(KeyStoreError, match="unknown tier 'gold'"):
        store.create_account("b", "gold")
    for bad, why in (("", "must not be empty"), ("x" * 65, "65 characters long"), ("a\nb", "control or invisible")):
        with pytest.raises(KeyStoreError, match=why):
            store.create_account(bad)
    assert [a.name for a in store.list_accounts()] == ["007", "acme"]  # nothing half-made


def test_account_limits_and_tiers(store):
    store.create_account("acme", "pro")
    a = store.set_account_limits("acme", requests_per_hour=50, monthly_calls="unlimited")
    assert (a.requests_per_hour, a.monthly_calls) == (50, -1)
    assert keys.account_limits(a, CONFIG) == (50, None)
    a = store.set_account_limits("acme", requests_per_hour=None, monthly_calls=0)
    assert keys.account_limits(a, CONFIG) == (10_000, 0)  # the tier's hourly; 0 blocks
    assert store.set_tier("acme", "enterprise", CONFIG).tier == "enterprise"
    with pytest.raises(KeyStoreError, match="unknown tier 'gold'"):
        store.set_tier("acme", "gold", CONFIG)


def test_a_downgrade_that_would_leave_too_many_keys_is_refused_naming_them(store):
    store.create_account("acme", "pro")
    first = store.create_key("acme", CONFIG, name="first")
    second = store.create_key("acme", CONFIG, name="second")
    with pytest.raises(KeyStoreError) as e:
        store.set_tier("acme", "free", CONFIG)
    assert str(e.value) == (f"account 'acme' has 2 active keys and the free tier allows 1: revoke 1 first "
                            f"({second.id} (second)), e.g. aispendtrack keys revoke {second.id}")
    assert store.get_account("acme").tier == "pro"
    store.revoke_key(second.id)
    assert store.set_tier("acme", "free", CONFIG).tier == "free"
    assert store.get_key(first.id).revoked is None


def test_keys_are_created_read_and_listed_without_their_secret(store):
    store.create_account("acme", "pro")
    expires = datetime.now(UTC) + timedelta(days=3)
    new = store.create_key("acme", CONFIG, name="ci", expires=expires, permissions=("calls",), models=("gpt-4o*",))
    assert new.key.startswith("ask_") and keys.KEY_RE.fullmatch(new.key)
    assert new.hint == keys.hint(new.key) and (new.account, new.name) == ("acme", "ci")
    info = store.get_key(new.id)
    assert isinstance(info, KeyInfo)
    assert (info.id, info.account, info.name, info.member, info.hint) == (new.id, "acme", "ci", "owner", new.hint)
    assert (info.permissions, info.models, info.revoked, info.last_used) == (("calls",), ("gpt-4o*",), None, None)
    assert info.expires == iso(expires) and info.state(iso(datetime.now(UTC))) == "active"
    assert info.in_grace is False
    other = store.create_key("acme", CONFIG)
    assert [k.id for k in store.list_keys("acme")] == [new.id, other.id]
    assert [k.id for k in store.list_keys()] == [new.id, other.id]
    assert new.key not in repr(store.list_keys())
    with pytest.raises(KeyStoreError, match=r"no key with id 'key_nope' \(see: aispendtrack keys list\)"):
        store.get_key("key_nope")
    with pytest.raises(KeyStoreError, match="no account named 'nope'"):
        store.list_keys("nope")
    with pytest.raises(KeyStoreError, match="no account named 'nope'"):
        store.create_key("nope", CONFIG)


def test_the_tier_bounds_a_new_key(store):
    store.create_account("solo")  # free: one key, no team, no webhooks permission
    store.create_key("solo", CONFIG)
    with pytest.raises(KeyStoreError, match=r"already has its maximum of 1 active key; revoke one"):
        store.create_key("solo", CONFIG)
    store.create_account("acme", "pro")
    with pytest.raises(KeyStoreError, match="the pro tier has no admin permission"):
        store.create_key("acme", CONFIG, permissions=("calls", "admin"))
    with pytest.raises(KeyStoreError, match="account 'acme' has no member 'ghost'"):
        store.create_key("acme", CONFIG, member="ghost")
    with pytest.raises(KeyStoreError, match="key name must not be empty"):
        store.create_key("acme", CONFIG, name="  ")
    assert len(store.list_keys("solo")) == 1 and store.list_keys("acme") == []


def test_an_expired_key_frees_its_place_under_the_cap(store):
    store.create_account("solo")
    soon = store.create_key("solo", CONFIG, expires=datetime.now(UTC) + timedelta(microseconds=1))
    assert store.get_key(soon.id).state(iso(datetime.now(UTC) + timedelta(seconds=1))) == "expired"
    store.create_key("solo", CONFIG)  # the expired one no longer counts


def test_rotation_keeps_the_old_secret_for_its_grace_and_revocation_ends_both(store):
    store.create_account("acme", "pro")
    old = store.create_key("acme", CONFIG, name="svc")
    new = store.rotate_key(old.id, CONFIG)
    assert (new.id, new.account, new.name) == (old.id, "acme", "svc") and new.key != old.key
    info = store.get_key(old.id)
    assert info.in_grace is True and info.hint == new.hint
    before, after = store.credentials(keys.digest(old.key)), store.credentials(keys.digest(new.key))
    assert len(before) == len(after) == 1
    assert before[0].retired is not None and after[0].retired is None
    grace = datetime.now(UTC) + timedelta(seconds=CONFIG.keys.rotation_grace_seconds)
    assert abs(parse_iso(before[0].retired) - grace) < timedelta(seconds=60)
    revoked = store.revoke_key(old.id)
    assert revoked.revoked is not None and revoked.in_grace is False
    assert store.revoke_key(old.id) == revoked  # again: nothing changes
    assert all(c.revoked == revoked.revoked for c in store.credentials() if c.key_id == old.id)
    with pytest.raises(KeyStoreError, match=f"key {old.id} is revoked; create a new key instead"):
        store.rotate_key(old.id, CONFIG)
    zero = parse_config({"keys": {"rotation_grace_seconds": 0}})
    other = store.create_key("acme", CONFIG)
    store.rotate_key(other.id, zero)
    assert store.get_key(other.id).in_grace is False  # no grace: the old secret stopped at once


def test_credentials_carry_what_authentication_needs(store):
    store.create_account("acme", "pro")
    store.set_account_limits("acme", requests_per_hour=7, monthly_calls=None)
    new = store.create_key("acme", CONFIG, name="ci", models=("gpt-4o",))
    (cred,) = store.credentials(keys.digest(new.key))
    assert isinstance(cred, Credential)
    assert (cred.digest, cred.key_id, cred.hint, cred.name, cred.account, cred.tier) == (
        keys.digest(new.key), new.id, new.hint, "ci", "acme", "pro")
    assert (cred.permissions, cred.models, cred.requests_per_hour, cred.monthly_calls) == (None, ("gpt-4o",), 7, None)
    assert (cred.revoked, cred.expires, cred.retired, cred.member) == (None, None, None, "owner")
    assert cred.member_id == cred.first_owner_id and cred.account_id == store.get_account("acme").id
    assert store.credentials(keys.digest("ask_" + "x" * 32)) == []
    assert [c.key_id for c in store.credentials()] == [new.id]


def test_rename_moves_what_is_keyed_by_the_account_name(store):
    store.create_account("acme", "pro")
    key = store.create_key("acme", CONFIG)
    store.record([{"ts": "2026-11-26T09:00:00Z", "key_id": key.id, "account": "acme", "outcome": "forwarded",
                   "cost_usd": "0.5", "pricing": "priced"}])
    store.set_budget("account", "acme", "5", "month", now=1_795_683_600.0)  # counts the row above
    hold = store.admit(Admission(key.id, "acme", None, None, 1_795_683_601.0, Charge(10**9))).budget.id  # in flight
    assert store.rename_account("acme", "acme-corp").name == "acme-corp"
    assert store.get_key(key.id).account == "acme-corp"
    assert store.usage(account="acme-corp", now=1_795_683_600.0).monthly_count == 1  # the month moved too
    assert store.get_budget("account", "acme") is None
    budget = store.get_budget("account", "acme-corp")
    assert (budget.limit_nano, budget.period) == (5 * 10**9, "month")  # renaming never lifts a budget
    assert store.budgeted_subjects() == {("account", "acme-corp")}
    standing = store.budget_standing(budget, now=1_795_683_600.0)
    assert (standing.spent_nano, standing.reserved_nano) == (500_000_000, 10**9)
    store.record([{"ts": "2026-11-26T09:00:01Z", "key_id": key.id, "account": "acme-corp", "outcome": "forwarded",
                   "cost_usd": "0.25", "pricing": "priced", "reservation_id": hold}])  # the call ends after the rename
    standing = store.budget_standing(budget, now=1_795_683_602.0)
    assert (standing.spent_nano, standing.reserved_nano) == (750_000_000, 0)
    store.create_account("other")
    with pytest.raises(KeyStoreError, match="account 'other' already exists"):
        store.rename_account("acme-corp", "other")
    assert store.rename_key(key.id, "svc").name == "svc"
    assert store.rename_key(key.id, "").name is None
    with pytest.raises(KeyStoreError, match="control or invisible"):
        store.rename_key(key.id, "a\tb")


def test_every_key_store_change_moves_the_versions(store):
    def version(name):
        return int(store.versions().get(f"{name}_version", 0))

    keys0 = version("keys")
    store.create_account("acme", "pro")
    new = store.create_key("acme", CONFIG)
    assert version("keys") == keys0 + 2  # each change is one step
    store.revoke_key(new.id)
    assert version("keys") == keys0 + 3
    budgets0 = version("budgets")
    store.set_budget("key", new.id, "1", "day", now=1_795_683_600.0)
    assert version("budgets") == budgets0 + 1
    with pytest.raises(KeyStoreError):
        store.create_account("acme")  # refused: no signal, no version
    assert version("keys") == keys0 + 3


def test_touch_keys_records_last_use_only(store):
    store.create_account("acme", "pro")
    a, b = store.create_key("acme", CONFIG), store.create_key("acme", CONFIG)
    before = store.versions()
    store.touch_keys([a.id, "key_unknown"], "2026-11-26T09:00:00.000000Z")
    assert store.get_key(a.id).last_used == "2026-11-26T09:00:00.000000Z"
    assert store.get_key(b.id).last_used is None
    assert store.versions() == before  # informational: no change signal


def test_names_sort_and_compare_as_on_sqlite_whatever_the_databases_collation(store):
    for name in ("Zeta", "acme", "_x", "Acme2", "b-c", "bb"):
        store.create_account(name)
    assert [a.name for a in store.list_accounts()] == ["Acme2", "Zeta", "_x", "acme", "b-c", "bb"]  # bytewise
    with store.connection() as conn:
        assert conn.rows("SELECT name FROM accounts WHERE name < ? ORDER BY name", ["_"]) == [
            {"name": "Acme2"}, {"name": "Zeta"}]


def test_a_keys_default_tags_are_kept_and_reach_its_credentials(store):
    from aispendtrack.auth.records import records_of

    store.create_account("acme", "pro")
    tagged = store.create_key("acme", CONFIG, name="ci", tags={"team": "search", "env": "ci"})
    plain = store.create_key("acme", CONFIG, name="plain")
    listed = {k.id: k for k in store.list_keys("acme")}
    assert listed[tagged.id].tags == {"env": "ci", "team": "search"} and listed[plain.id].tags is None
    assert store.get_key(tagged.id).tags == {"env": "ci", "team": "search"}
    records = {r.key_id: r for r in records_of(store.credentials(), CONFIG, set()).values()}
    assert records[tagged.id].tags == (("env", "ci"), ("team", "search")) and records[plain.id].tags is None
    rotated = store.rotate_key(tagged.id, CONFIG)  # the tags belong to the key, not to one secret
    assert {r.tags for r in records_of(store.credentials(), CONFIG, set()).values() if r.key_id == rotated.id} == {
        (("env", "ci"), ("team", "search"))}
