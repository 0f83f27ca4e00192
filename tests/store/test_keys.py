from datetime import timedelta

import pytest

from aispendtrack.store import keys
from aispendtrack.config import Config, parse_config
from aispendtrack.store.db import iso, utcnow
from aispendtrack.auth.records import check, records_of
from aispendtrack.store.records import Account, KeyStoreError


def test_generated_keys_have_the_documented_shape():
    seen = {keys.generate_key() for _ in range(200)}
    assert len(seen) == 200
    assert all(keys.KEY_RE.fullmatch(k) for k in seen)


def test_plaintext_key_is_never_stored(store, database, config):
    store.create_account("acme", "pro")
    new = store.create_key("acme", config, name="ci")
    dump = database.dump()
    assert new.key not in dump
    assert new.key[4:] not in dump
    assert keys.digest(new.key) in dump
    assert new.hint == f"ask_…{new.key[-4:]}"


def test_tier_key_cap_is_enforced_with_a_clear_error(store, config):
    store.create_account("solo", "free")
    store.create_key("solo", config)
    with pytest.raises(KeyStoreError, match=r"maximum of 1 active key"):
        store.create_key("solo", config)


def test_revoked_keys_free_a_slot_and_rotation_does_not_use_one(store, config):
    store.create_account("solo", "free")
    first = store.create_key("solo", config)
    store.rotate_key(first.id, config)  # in grace: still one key line
    with pytest.raises(KeyStoreError):
        store.create_key("solo", config)
    store.revoke_key(first.id)
    store.create_key("solo", config)


def test_enterprise_has_no_cap(store, config):
    store.create_account("big", "enterprise")
    for _ in range(8):
        store.create_key("big", config)


def test_rotation_keeps_id_and_grace(store):
    config = parse_config({"keys": {"rotation_grace_seconds": 60}})
    store.create_account("acme", "pro")
    old = store.create_key("acme", config)
    new = store.rotate_key(old.id, config)
    assert new.id == old.id and new.key != old.key
    records = records_of(store.credentials(), config, store.budgeted_subjects())
    now = utcnow()
    assert check(records, old.key, iso(now)).reason is None
    assert check(records, new.key, iso(now)).reason is None
    later = iso(now + timedelta(seconds=61))
    assert "rotated out" in check(records, old.key, later).reason
    assert check(records, new.key, later).reason is None


def test_revoke_and_unknown(store, config):
    store.create_account("acme", "pro")
    k = store.create_key("acme", config)
    store.revoke_key(k.id)
    records = records_of(store.credentials(), config, store.budgeted_subjects())
    now = iso(utcnow())
    assert "revoked" in check(records, k.key, now).reason
    assert "unknown" in check(records, keys.generate_key(), now).reason


def test_expired_key(store, config):
    store.create_account("acme", "pro")
    k = store.create_key("acme", config, expires=utcnow() + timedelta(seconds=5))
    records = records_of(store.credentials(), config, store.budgeted_subjects())
    assert check(records, k.key, iso(utcnow())).reason is None
    assert "expired" in check(records, k.key, iso(utcnow() + timedelta(seconds=6))).reason


def test_unknown_account_and_tier(store, config):
    with pytest.raises(KeyStoreError, match="no account named"):
        store.create_key("ghost", config)
    with pytest.raises(KeyStoreError, match="unknown tier"):
        store.create_account("x", "gold")
    store.create_account("x")
    with pytest.raises(KeyStoreError, match="already exists"):
        store.create_account("x")


def test_enterprise_account_limits_override(store, config):
    store.create_account("big", "enterprise")
    assert keys.account_limits(store.get_account("big"), config) == (None, None)
    acct = store.set_account_limits("big", requests_per_hour=50, monthly_calls="unlimited")
    assert keys.account_limits(acct, config) == (50, None)


def test_every_change_bumps_the_version(store, database, config):
    def version():
        return database.execute("SELECT value FROM meta WHERE name='keys_version'")[0][0]

    store.create_account("acme", "pro")
    v1 = version()
    k = store.create_key("acme", config)
    v2 = version()
    store.rotate_key(k.id, config)
    v3 = version()
    store.revoke_key(k.id)
    assert int(v1) < int(v2) < int(v3) < int(version())


@pytest.mark.parametrize(
    "tier, rph, monthly, expected",
    [
        ("free", None, None, (1000, 10_000)),
        ("pro", None, None, (10_000, None)),
        ("enterprise", None, None, (None, None)),
        ("enterprise", 50_000, 2_000_000, (50_000, 2_000_000)),
        ("enterprise", -1, 5, (None, 5)),
        ("free", -1, -1, (None, None)),
        ("pro", 0, None, (0, None)),
    ],
)
def test_account_limits_tier_defaults_and_overrides(tier, rph, monthly, expected):
    account = Account(1, "acme", tier, "2026-01-01T00:00:00Z", requests_per_hour=rph, monthly_calls=monthly)
    assert keys.account_limits(account, Config()) == expected


def test_account_limits_unknown_tier():
    with pytest.raises(ValueError, match="unknown tier 'gold'"):
        keys.account_limits(Account(1, "acme", "gold", "2026-01-01T00:00:00Z"), Config())


def test_a_key_change_on_a_full_disk_raises_the_disk_error(db_path, config):
    """SQLite rolls back by itself on SQLITE_FULL; a second ROLLBACK used to replace the
    error with "no transaction is active", which serve could not tell from a bug (500)."""
    import sqlite3

    from aispendtrack.store import open_store

    store = open_store(db_path)  # SQLite's own behaviour: not the engine-parametrised store
    store.create_account("acme", "enterprise")
    with store.connection() as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # no page more: the file cannot grow
        with pytest.raises(sqlite3.OperationalError) as full:
            for n in range(500):
                store.create_key("acme", config, name=f"{n}-" + "n" * 60)
        assert full.value.sqlite_errorname == "SQLITE_FULL"
        assert not conn.in_transaction
    store.close()
