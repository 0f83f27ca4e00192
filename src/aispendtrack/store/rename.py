"""Renaming accounts and keys: names change, ids and history stay."""

from __future__ import annotations

from aispendtrack.store.conn import BUDGETS, KEYS, KEYSTORE, WEBHOOKS, Conn
from aispendtrack.store.keys import check_name, get_account, get_key
from aispendtrack.store.records import Account, KeyInfo, KeyStoreError

# Tables that name an account by its name (not accounts.id): a rename moves their rows.
_BY_ACCOUNT_NAME = (("monthly_usage", "account"), ("calls", "account"), ("calls_daily", "account"),
                    ("webhook_endpoints", "account"), ("webhook_alerts", "scope"),
                    ("budget_reservations", "account"))
# ... and where a budget's subject is one (scope 'account'; a key's budget names its key id).
_BUDGET_SUBJECTS = ("budgets", "budget_spend")


def rename_account(conn: Conn, old: str, new: str) -> Account:
    """Rename an account. What is keyed by its name (monthly counter, dollar budget with its
    counters and holds, ledger rows and their daily sums, webhook endpoints and alerts)
    moves with it in the same transaction, so limits, budgets, reports, the dashboard and
    webhooks continue."""
    account = get_account(conn, old)
    check_name("account name", new)
    with conn.tx(KEYSTORE):
        conn.signal(KEYS, WEBHOOKS, BUDGETS)
        if conn.execute("SELECT 1 FROM accounts WHERE name = ?", [new]).fetchone():
            raise KeyStoreError(f"account {new!r} already exists")
        conn.execute("UPDATE accounts SET name = ? WHERE id = ?", [new, account.id])
        for table, column in _BY_ACCOUNT_NAME:
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [new, old])
        for table in _BUDGET_SUBJECTS:
            conn.execute(f"UPDATE {table} SET subject = ? WHERE scope = 'account' AND subject = ?", [new, old])
    return get_account(conn, new)


def rename_key(conn: Conn, key_id: str, name: str | None) -> KeyInfo:
    """Set a key's label (None or "" clears it); its id, secrets and history stay."""
    get_key(conn, key_id)
    if name:
        check_name("key name", name)
    with conn.tx(KEYSTORE):
        conn.signal(KEYS)
        conn.execute("UPDATE keys SET name = ? WHERE id = ?", [name or None, key_id])
    return get_key(conn, key_id)
