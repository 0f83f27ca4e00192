"""The vault's rows: provider credentials sealed by `vault.crypto`, and each account's policy.

The store never sees a secret: it keeps what `Keyring.seal` made (the master key's id and the
sealed text), a hint, who set it and when. A credential is an account's (`key_id` empty) or
one AiSpendTrack key's, which then overrides the account's for that key. Accounts are named
by id, as the associated data binds them, so a rename keeps every credential usable.
Every change raises the `vault` signal: running proxies reload before their next decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aispendtrack.store.conn import KEYSTORE, VAULT, Conn
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.records import KeyStoreError

MODES = ("inject", "require")
DEFAULT_MODE = "inject"


@dataclass(frozen=True, slots=True)
class VaultRecord:
    account: str
    account_id: int
    provider: str
    key_id: str | None  # None: the account's credential
    master_key_id: str
    sealed: str
    hint: str
    set_by: str
    set_at: str


_SELECT = """SELECT a.name, v.account_id, v.provider, v.key_id, v.master_key_id, v.sealed, v.hint, v.set_by, v.set_at
             FROM provider_credentials v JOIN accounts a ON a.id = v.account_id"""


def _record(row) -> VaultRecord:
    name, account_id, provider, key_id, *rest = row
    return VaultRecord(name, int(account_id), provider, key_id or None, *rest)


def _check_key(conn: Conn, account_id: int, key_id: str | None) -> None:
    if key_id is None:
        return
    row = conn.execute("SELECT account_id FROM keys WHERE id = ?", [key_id]).fetchone()
    if row is None or int(row[0]) != account_id:
        raise KeyStoreError(f"no key {key_id!r} in this account (see: aispendtrack keys list)")


def put_credential(conn: Conn, account_id: int, provider: str, key_id: str | None, master_key_id: str,
                   sealed: str, hint: str, set_by: str) -> VaultRecord:
    """Store (or replace) the sealed credential of an account's provider, or of one of its keys."""
    with conn.tx(KEYSTORE):
        conn.signal(VAULT)
        if conn.execute("SELECT 1 FROM accounts WHERE id = ?", [account_id]).fetchone() is None:
            raise KeyStoreError(f"no account with id {account_id}")
        _check_key(conn, account_id, key_id)
        params = [master_key_id, sealed, hint, set_by, iso(utcnow()), account_id, provider, key_id or ""]
        cur = conn.execute("""UPDATE provider_credentials SET master_key_id = ?, sealed = ?, hint = ?, set_by = ?,
                              set_at = ? WHERE account_id = ? AND provider = ? AND key_id = ?""", params)
        if cur.rowcount == 0:
            conn.execute("""INSERT INTO provider_credentials (master_key_id, sealed, hint, set_by, set_at, account_id,
                            provider, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""", params)
        row = conn.execute(_SELECT + " WHERE v.account_id = ? AND v.provider = ? AND v.key_id = ?",
                           [account_id, provider, key_id or ""]).fetchone()
    return _record(row)


def list_credentials(conn: Conn, account: str | None = None) -> list[VaultRecord]:
    where, params = (" WHERE a.name = ?", [account]) if account is not None else ("", [])
    return [_record(r) for r in conn.execute(_SELECT + where + " ORDER BY a.name, v.provider, v.key_id",
                                             params).fetchall()]


def remove_credential(conn: Conn, account_id: int, provider: str, key_id: str | None) -> None:
    with conn.tx(KEYSTORE):
        conn.signal(VAULT)
        cur = conn.execute("DELETE FROM provider_credentials WHERE account_id = ? AND provider = ? AND key_id = ?",
                           [account_id, provider, key_id or ""])
        if cur.rowcount == 0:
            whose = f"key {key_id}" if key_id else "the account"
            raise KeyStoreError(f"no {provider} credential stored for {whose} (see: aispendtrack providers list)")


def reseal(conn: Conn, transform: Callable[[VaultRecord], tuple[str, str]]) -> int:
    """Replace every record's (master key id, sealed text) by `transform`'s, all in one
    transaction: one record `transform` cannot reseal (it raises) leaves every record as it was."""
    with conn.tx(KEYSTORE):
        conn.signal(VAULT)
        # every writer of these rows holds the key store's lock: nothing changes them meanwhile
        records = [_record(r) for r in conn.execute(_SELECT).fetchall()]
        for r in records:
            master_key_id, sealed = transform(r)
            conn.execute("""UPDATE provider_credentials SET master_key_id = ?, sealed = ?
                            WHERE account_id = ? AND provider = ? AND key_id = ?""",
                         [master_key_id, sealed, r.account_id, r.provider, r.key_id or ""])
    return len(records)


def master_keys_in_use(conn: Conn) -> set[str]:
    return {r[0] for r in conn.execute("SELECT DISTINCT master_key_id FROM provider_credentials").fetchall()}


def set_vault_mode(conn: Conn, account_id: int, mode: str) -> None:
    if mode not in MODES:
        raise KeyStoreError(f"vault mode must be one of {', '.join(MODES)}, not {mode!r}")
    with conn.tx(KEYSTORE):
        conn.signal(VAULT)
        if conn.execute("UPDATE vault_modes SET mode = ? WHERE account_id = ?", [mode, account_id]).rowcount == 0:
            conn.execute("INSERT INTO vault_modes (account_id, mode) VALUES (?, ?)", [account_id, mode])


def vault_modes(conn: Conn) -> dict[int, str]:
    """Each account's mode that is not the default."""
    return {int(a): m for a, m in conn.execute("SELECT account_id, mode FROM vault_modes").fetchall()}
