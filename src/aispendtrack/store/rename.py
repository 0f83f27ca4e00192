"""Renaming accounts and keys: names change, ids and history stay."""

from __future__ import annotations

import sqlite_utils

from aispendtrack.store.keys import check_name, get_account, get_key
from aispendtrack.store.tx import KeyStoreError, Tx

# Tables that name an account by its name (not accounts.id): a rename moves their rows.
_BY_ACCOUNT_NAME = (("monthly_usage", "account"), ("calls", "account"), ("calls_daily", "account"),
                    ("webhook_endpoints", "account"), ("webhook_alerts", "scope"))


def rename_account(db: sqlite_utils.Database, old: str, new: str) -> dict:
    """Rename an account. What is keyed by its name (monthly counter, ledger rows and their
    daily sums, webhook endpoints and alerts) moves with it in the same transaction, so
    limits, reports, the dashboard and webhooks continue."""
    account = get_account(db, old)
    check_name("account name", new)
    tables = set(db.table_names())
    with Tx(db):
        if db.execute("SELECT 1 FROM accounts WHERE name = ?", [new]).fetchone():
            raise KeyStoreError(f"account {new!r} already exists")
        db.execute("UPDATE accounts SET name = ? WHERE id = ?", [new, account["id"]])
        for table, column in _BY_ACCOUNT_NAME:
            if table in tables:
                db.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [new, old])
    return get_account(db, new)


def rename_key(db: sqlite_utils.Database, key_id: str, name: str | None) -> dict:
    """Set a key's label (None or "" clears it); its id, secrets and history stay."""
    get_key(db, key_id)
    if name:
        check_name("key name", name)
    with Tx(db):
        db.execute("UPDATE keys SET name = ? WHERE id = ?", [name or None, key_id])
    return get_key(db, key_id)
