"""The vault's operations over a store, shared by the CLI (and any other front end): store a
credential sealed, list with whether each opens, remove, the policy, rotate the master key.
No SQL here (the store's `vault` module keeps the rows); no secret leaves these functions
except `open_all`'s, which only the proxy calls."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aispendtrack.store.records import KeyStoreError
from aispendtrack.store.vault import VaultRecord
from aispendtrack.vault import keyfile
from aispendtrack.vault.crypto import Keyring, VaultError, hint, new_master_key

PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_SECRET = 4096
# An organization admin key (`providers set … --admin`, read by `aispendtrack reconcile`) is
# kept as `<provider>.admin`: the proxy never opens nor sends it, whatever a flow's provider.
ADMIN_SUFFIX = ".admin"


def admin_name(provider: str) -> str:
    return provider + ADMIN_SUFFIX


def is_admin(stored_provider: str) -> bool:
    return stored_provider.endswith(ADMIN_SUFFIX)


def known_providers(config) -> set[str]:
    """The provider ids a key may be stored for: the config's hosts' and upstreams' (patterns
    included: Azure's per-resource hosts are `azure` and Bedrock's per-region hosts `aws` by
    default), and `azure` and `aws` always (a Bedrock API key is sent as `Authorization: Bearer`)."""
    return set(config.providers.values()) | set(config.upstreams.values()) | {"azure", "aws"}


def check_provider(provider: str, known: set[str]) -> str:
    if not PROVIDER_NAME.fullmatch(provider) or provider not in known:
        raise VaultError(f"provider: unknown provider {provider!r}; choose one of {', '.join(sorted(known))} "
                         "(or name its host under [upstreams] in mitm.toml)")
    return provider


def check_secret(secret: str) -> str:
    secret = secret.strip()
    if not secret:
        raise VaultError("secret: empty (pipe it on stdin or type it at the prompt)")
    if len(secret) > MAX_SECRET or not secret.isascii() or not secret.isprintable() or " " in secret:
        raise VaultError(f"secret: must be one line of printable ASCII without spaces, at most {MAX_SECRET} "
                         "characters")
    return secret


def store_secret(store, account: str, provider: str, key_id: str | None, secret: str, set_by: str,
                 *, create: bool = True) -> VaultRecord:
    """Seal `secret` with the current master key (with `create`, the key file is made on first
    use) and store it."""
    acct = store.get_account(account)
    if key_id is not None and key_id not in {k.id for k in store.list_keys(account)}:
        # one answer whether the key is another account's or nobody's
        raise KeyStoreError(f"key_id: no key {key_id!r} in account {account} (see: aispendtrack keys list)")
    ring = keyfile.load(create=create)
    if ring is None:
        raise VaultError(f"no vault master key: {keyfile.described()} does not exist; set ${keyfile.KEY_ENV} "
                         "for this process, or store the first provider key with: aispendtrack providers set")
    master, sealed = ring.seal(check_secret(secret), acct.id, provider, key_id)
    return store.put_credential(acct.id, provider, key_id, master, sealed, hint(secret.strip()), set_by)


@dataclass(frozen=True)
class Listed:
    record: VaultRecord
    problem: str | None  # why it does not decrypt; None: it does

    def as_json(self) -> dict:
        r = self.record
        return {"account": r.account, "provider": r.provider, "key_id": r.key_id, "hint": r.hint,
                "set_by": r.set_by, "set_at": r.set_at, "master_key_id": r.master_key_id,
                "decrypts": self.problem is None, "problem": self.problem}


def _ring() -> tuple[Keyring | None, str | None]:
    try:
        ring = keyfile.load()
    except VaultError as e:
        return None, str(e)
    if ring is None:
        return None, (f"no vault master key: {keyfile.described()} does not exist; set "
                      f"${keyfile.KEY_ENV} to the key the credentials were stored with")
    return ring, None


def opened(records: list[VaultRecord]) -> list[tuple[VaultRecord, str | None, str | None]]:
    """(record, secret, problem) for each record: exactly one of secret and problem is set."""
    ring, problem = _ring()
    out = []
    for r in records:
        if ring is None:
            out.append((r, None, problem))
            continue
        try:
            out.append((r, ring.open(r.master_key_id, r.sealed, r.account_id, r.provider, r.key_id), None))
        except VaultError as e:
            out.append((r, None, str(e)))
    return out


def list_checked(store, account: str | None = None) -> list[Listed]:
    if account is not None:
        store.get_account(account)  # an unknown account is an error, not an empty list
    return [Listed(r, problem) for r, _, problem in opened(store.list_credentials(account))]


def remove(store, account: str, provider: str, key_id: str | None) -> None:
    store.remove_credential(store.get_account(account).id, provider, key_id)


@dataclass(frozen=True)
class Rotated:
    records: int
    current: str
    dropped: tuple[str, ...]  # old master keys no record uses any more, removed from the key file
    kept: tuple[str, ...]  # old master keys still in $AISPENDTRACK_VAULT_KEY: remove them by hand
    source: str


def rotate(store) -> Rotated:
    """Seal every record with a new master key (the key file: made and added first; the
    environment's: its first key, the others being the old ones), in one transaction; then
    drop the old keys no record uses. A record that does not open stops the rotation, with
    every record as it was and the new key kept for the next attempt."""
    env_ring = keyfile.from_env()
    if env_ring is not None:
        return _rotate(store, env_ring, None)
    path = keyfile.key_file()
    with keyfile.locked(path):  # two rotations at once would each drop the other's new key
        old = keyfile.load(create=False)
        fresh = Keyring.of([new_master_key()], str(path))
        ring = Keyring({**(old.keys if old else {}), **fresh.keys}, fresh.current, str(path))
        keyfile.write_file(path, ring)  # first: running gateways can open what is resealed next
        return _rotate(store, ring, path)


def _rotate(store, ring: Keyring, path) -> Rotated:
    def reseal(r: VaultRecord) -> tuple[str, str]:
        try:
            secret = ring.open(r.master_key_id, r.sealed, r.account_id, r.provider, r.key_id)
        except VaultError as e:
            whose = f"key {r.key_id}" if r.key_id else "the account"
            raise VaultError(f"rotation stopped, nothing changed: the {r.provider} credential of account "
                             f"{r.account} ({whose}) {e}; or remove it with: aispendtrack providers remove "
                             f"{r.account} {r.provider}" + (f" --key {r.key_id}" if r.key_id else "")) from None
        return ring.seal(secret, r.account_id, r.provider, r.key_id)

    count = store.reseal_credentials(reseal)
    unused = tuple(k for k in ring.keys if k != ring.current and k not in store.master_keys_in_use())
    if path is None:
        return Rotated(count, ring.current, (), unused, ring.source)
    keyfile.write_file(path, Keyring({k: v for k, v in ring.keys.items() if k not in unused}, ring.current,
                                     ring.source))
    return Rotated(count, ring.current, unused, (), ring.source)
