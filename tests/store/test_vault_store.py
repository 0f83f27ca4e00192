"""The vault's rows on both engines: sealed credentials per account and per key, replaced,
listed, removed, resealed in one transaction, the policy, the `vault` signal; no secret is
ever in the database, and a sealed text moved to another account does not open."""

import pytest

from aispendtrack.config import Config
from aispendtrack.store.records import KeyStoreError
from aispendtrack.vault.crypto import Keyring, VaultError, new_master_key

SECRET = "sk-proj-THIS-IS-THE-PLAINTEXT-SECRET-0123456789"
CONFIG = Config()


@pytest.fixture
def ring():
    return Keyring.of([new_master_key()], "test")


def put(store, ring, account, provider="openai", key_id=None, secret=SECRET):
    acct = store.get_account(account)
    master, sealed = ring.seal(secret, acct.id, provider, key_id)
    return store.put_credential(acct.id, provider, key_id, master, sealed, "sk-…6789", "ops")


def test_a_credential_is_stored_sealed_and_opens_only_for_its_account(store, database, ring):
    store.create_account("acme", "pro")
    store.create_account("umbrella", "pro")
    rec = put(store, ring, "acme")
    assert (rec.account, rec.provider, rec.key_id, rec.hint, rec.set_by) == ("acme", "openai", None, "sk-…6789", "ops")
    assert ring.open(rec.master_key_id, rec.sealed, rec.account_id, "openai", None) == SECRET
    assert SECRET not in database.dump() and SECRET[8:30] not in database.dump()
    other = store.get_account("umbrella")
    with pytest.raises(VaultError, match="copied from another"):
        ring.open(rec.master_key_id, rec.sealed, other.id, "openai", None)
    with pytest.raises(VaultError):
        ring.open(rec.master_key_id, rec.sealed, rec.account_id, "anthropic", None)
    # copied row by row into the other account: still does not open there
    database.execute("INSERT INTO provider_credentials SELECT ?, provider, key_id, master_key_id, sealed, hint, "
                     "set_by, set_at FROM provider_credentials WHERE account_id = ?", [other.id, rec.account_id])
    copied = store.list_credentials("umbrella")[0]
    with pytest.raises(VaultError):
        ring.open(copied.master_key_id, copied.sealed, copied.account_id, copied.provider, copied.key_id)


def test_per_key_credentials_replace_and_remove(store, ring):
    store.create_account("acme", "pro")
    store.create_account("umbrella", "pro")
    key = store.create_key("acme", CONFIG)
    foreign = store.create_key("umbrella", CONFIG)
    put(store, ring, "acme")
    put(store, ring, "acme", key_id=key.id, secret="sk-key-own-secret-abcdefgh")
    put(store, ring, "acme", secret="sk-replaced-secret-000000")
    with pytest.raises(KeyStoreError, match="no key"):
        put(store, ring, "acme", key_id=foreign.id)
    records = store.list_credentials("acme")
    assert [(r.provider, r.key_id) for r in records] == [("openai", None), ("openai", key.id)]
    assert ring.open(records[0].master_key_id, records[0].sealed, records[0].account_id, "openai", None) \
        == "sk-replaced-secret-000000"
    assert store.list_credentials("umbrella") == []
    store.remove_credential(records[0].account_id, "openai", key.id)
    with pytest.raises(KeyStoreError, match="no openai credential stored for key"):
        store.remove_credential(records[0].account_id, "openai", key.id)
    assert [r.key_id for r in store.list_credentials()] == [None]


def test_reseal_is_all_or_nothing_and_tracks_master_keys(store, ring):
    store.create_account("acme", "pro")
    put(store, ring, "acme")
    put(store, ring, "acme", "anthropic")
    newer = Keyring({**ring.keys, **Keyring.of([new_master_key()], "t").keys}, "", "t")
    newer = Keyring(newer.keys, [k for k in newer.keys if k != ring.current][0], "t")
    calls = []

    def failing(r):
        calls.append(r.provider)
        if len(calls) == 2:
            raise VaultError("boom")
        return newer.seal(newer.open(r.master_key_id, r.sealed, r.account_id, r.provider, r.key_id),
                          r.account_id, r.provider, r.key_id)

    with pytest.raises(VaultError):
        store.reseal_credentials(failing)
    assert store.master_keys_in_use() == {ring.current}
    n = store.reseal_credentials(lambda r: newer.seal(newer.open(r.master_key_id, r.sealed, r.account_id,
                                                                 r.provider, r.key_id), r.account_id, r.provider,
                                                      r.key_id))
    assert n == 2 and store.master_keys_in_use() == {newer.current}
    r = store.list_credentials()[0]
    assert newer.open(r.master_key_id, r.sealed, r.account_id, r.provider, None) == SECRET


def test_modes_and_the_vault_signal(store, ring):
    acct = store.create_account("acme", "pro")
    changes = store.changes()
    try:
        changes.changed()
        assert store.vault_modes() == {}
        store.set_vault_mode(acct.id, "require")
        with pytest.raises(KeyStoreError, match="inject, require"):
            store.set_vault_mode(acct.id, "sometimes")
        assert store.vault_modes() == {acct.id: "require"}
        put(store, ring, "acme")
        import time
        deadline = time.monotonic() + 10
        got = set()
        while "vault" not in got and time.monotonic() < deadline:
            got |= changes.changed()
            time.sleep(0.01)
        assert "vault" in got
        assert int(store.versions()["vault_version"]) >= 2
    finally:
        changes.close()


def test_a_renamed_account_keeps_its_credentials(store, ring):
    store.create_account("acme", "pro")
    put(store, ring, "acme")
    store.rename_account("acme", "acme2")
    r = store.list_credentials("acme2")[0]
    assert ring.open(r.master_key_id, r.sealed, r.account_id, r.provider, r.key_id) == SECRET
