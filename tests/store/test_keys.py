from datetime import timedelta

import pytest

from aispendtrack.store import keys
from aispendtrack.config import Config, parse_config
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.keycache import check, load_records


def test_generated_keys_have_the_documented_shape():
    seen = {keys.generate_key() for _ in range(200)}
    assert len(seen) == 200
    assert all(keys.KEY_RE.fullmatch(k) for k in seen)


def test_plaintext_key_is_never_stored(database, config, db_path):
    keys.create_account(database, "acme", "pro")
    new = keys.create_key(database, "acme", config, name="ci")
    dump = "\n".join(database.conn.iterdump())
    assert new.key not in dump
    assert new.key[4:] not in dump
    assert keys.digest(new.key) in dump
    assert new.hint == f"ask_…{new.key[-4:]}"


def test_tier_key_cap_is_enforced_with_a_clear_error(database, config):
    keys.create_account(database, "solo", "free")
    keys.create_key(database, "solo", config)
    with pytest.raises(keys.KeyStoreError, match=r"maximum of 1 active key"):
        keys.create_key(database, "solo", config)


def test_revoked_keys_free_a_slot_and_rotation_does_not_use_one(database, config):
    keys.create_account(database, "solo", "free")
    first = keys.create_key(database, "solo", config)
    keys.rotate_key(database, first.id, config)  # in grace: still one key line
    with pytest.raises(keys.KeyStoreError):
        keys.create_key(database, "solo", config)
    keys.revoke_key(database, first.id)
    keys.create_key(database, "solo", config)


def test_enterprise_has_no_cap(database, config):
    keys.create_account(database, "big", "enterprise")
    for _ in range(8):
        keys.create_key(database, "big", config)


def test_rotation_keeps_id_and_grace(database):
    config = parse_config({"keys": {"rotation_grace_seconds": 60}})
    keys.create_account(database, "acme", "pro")
    old = keys.create_key(database, "acme", config)
    new = keys.rotate_key(database, old.id, config)
    assert new.id == old.id and new.key != old.key
    records = load_records(database, config)
    now = utcnow()
    assert check(records, old.key, iso(now)).reason is None
    assert check(records, new.key, iso(now)).reason is None
    later = iso(now + timedelta(seconds=61))
    assert "rotated out" in check(records, old.key, later).reason
    assert check(records, new.key, later).reason is None


def test_revoke_and_unknown(database, config):
    keys.create_account(database, "acme", "pro")
    k = keys.create_key(database, "acme", config)
    keys.revoke_key(database, k.id)
    records = load_records(database, config)
    now = iso(utcnow())
    assert "revoked" in check(records, k.key, now).reason
    assert "unknown" in check(records, keys.generate_key(), now).reason


def test_expired_key(database, config):
    keys.create_account(database, "acme", "pro")
    k = keys.create_key(database, "acme", config, expires=utcnow() + timedelta(seconds=5))
    records = load_records(database, config)
    assert check(records, k.key, iso(utcnow())).reason is None
    assert "expired" in check(records, k.key, iso(utcnow() + timedelta(seconds=6))).reason


def test_unknown_account_and_tier(database, config):
    with pytest.raises(keys.KeyStoreError, match="no account named"):
        keys.create_key(database, "ghost", config)
    with pytest.raises(keys.KeyStoreError, match="unknown tier"):
        keys.create_account(database, "x", "gold")
    keys.create_account(database, "x")
    with pytest.raises(keys.KeyStoreError, match="already exists"):
        keys.create_account(database, "x")


def test_enterprise_account_limits_override(database, config):
    keys.create_account(database, "big", "enterprise")
    assert keys.account_limits(keys.get_account(database, "big"), config) == (None, None)
    acct = keys.set_account_limits(database, "big", requests_per_hour=50, monthly_calls="unlimited")
    assert keys.account_limits(acct, config) == (50, None)


def test_every_change_bumps_the_version(database, config):
    def version():
        return database.execute("SELECT value FROM meta WHERE name='keys_version'").fetchone()[0]

    keys.create_account(database, "acme", "pro")
    v1 = version()
    k = keys.create_key(database, "acme", config)
    v2 = version()
    keys.rotate_key(database, k.id, config)
    v3 = version()
    keys.revoke_key(database, k.id)
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
    account = {"tier": tier, "requests_per_hour": rph, "monthly_calls": monthly}
    assert keys.account_limits(account, Config()) == expected


def test_account_limits_unknown_tier():
    with pytest.raises(ValueError, match="unknown tier 'gold'"):
        keys.account_limits({"tier": "gold", "requests_per_hour": None, "monthly_calls": None}, Config())


def test_a_key_change_on_a_full_disk_raises_the_disk_error(database, config):
    """SQLite rolls back by itself on SQLITE_FULL; a second ROLLBACK used to replace the
    error with "no transaction is active", which serve could not tell from a bug (500)."""
    import sqlite3

    keys.create_account(database, "acme", "enterprise")
    pages = database.execute("PRAGMA page_count").fetchone()[0]
    database.execute(f"PRAGMA max_page_count = {pages}")  # no page more: the file cannot grow
    with pytest.raises(sqlite3.OperationalError) as full:
        for n in range(500):
            keys.create_key(database, "acme", config, name=f"{n}-" + "n" * 60)
    assert full.value.sqlite_errorname == "SQLITE_FULL"
    assert not database.conn.in_transaction
