"""Members of an account (people) and their roles; every key belongs to one member.

Roles, highest first: owner, admin, member, viewer. Creating an account creates its owner.
A member is never given a role above the one of whoever adds them; removing a member
revokes their keys. Accounts whose tier lacks the `team` permission have one member.
"""

from __future__ import annotations

import sqlite_utils

from aispendtrack.config import Config
from aispendtrack.store import outbox
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.tx import KeyStoreError, Tx

ROLES = ("owner", "admin", "member", "viewer")
RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}
OWNER_NAME = "owner"


def ensure_schema(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS members (
            id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id),
            name TEXT NOT NULL, role TEXT NOT NULL, created TEXT NOT NULL, removed TEXT)"""
    )
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS members_name ON members (account_id, name) WHERE removed IS NULL")
    if "member_id" not in {row[1] for row in db.execute("PRAGMA table_info(keys)").fetchall()}:
        db.execute("ALTER TABLE keys ADD COLUMN member_id INTEGER")
    # Accounts and keys from before members: the owner holds them.
    db.execute(
        f"""INSERT INTO members (account_id, name, role, created)
            SELECT a.id, '{OWNER_NAME}', 'owner', a.created FROM accounts a
            WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.account_id = a.id)"""
    )
    db.execute(
        """UPDATE keys SET member_id = (SELECT m.id FROM members m WHERE m.account_id = keys.account_id
                                        AND m.role = 'owner' ORDER BY m.id LIMIT 1)
           WHERE member_id IS NULL"""
    )


def insert_owner(db, account_id: int, name: str = OWNER_NAME) -> None:
    """The owner of a new account (inside its creating transaction)."""
    db.execute("INSERT INTO members (account_id, name, role, created) VALUES (?, ?, 'owner', ?)",
               [account_id, name, iso(utcnow())])


def _account(db, account: str) -> tuple[int, str]:
    row = db.execute("SELECT id, tier FROM accounts WHERE name = ?", [account]).fetchone()
    if row is None:
        raise KeyStoreError(f"no account named {account!r} (create it with: aispendtrack accounts create {account})")
    return row[0], row[1]


def get_member(db, account: str, name: str | None = None) -> dict:
    """Member `name` of `account` (None: its first owner)."""
    account_id, _ = _account(db, account)
    sql = "SELECT id, name, role, created FROM members WHERE account_id = ? AND removed IS NULL"
    rows = db.execute(sql + (" AND name = ?" if name is not None else " AND role = 'owner' ORDER BY id LIMIT 1"),
                      [account_id, *([name] if name is not None else [])]).fetchall()
    if not rows:
        raise KeyStoreError(f"account {account!r} has no member {name!r} (see: aispendtrack members list {account})")
    return {"id": rows[0][0], "account": account, "name": rows[0][1], "role": rows[0][2], "created": rows[0][3]}


def first_owner_id(db, account_id: int) -> int | None:
    """The member who keeps access on a tier without team access: the account's first owner."""
    row = db.execute("SELECT MIN(id) FROM members WHERE account_id = ? AND role = 'owner' AND removed IS NULL",
                     [account_id]).fetchone()
    return row[0]


def of_key(db, key_id: str) -> dict | None:
    """The member holding key `key_id` (name, role), or None."""
    row = db.execute("SELECT m.id, m.name, m.role FROM keys k JOIN members m ON m.id = k.member_id WHERE k.id = ?",
                     [key_id]).fetchone()
    return None if row is None else {"id": row[0], "name": row[1], "role": row[2]}


def list_members(db, account: str | None = None) -> list[dict]:
    where, params = ("AND a.name = ?", [account]) if account else ("", [])
    if account:
        _account(db, account)
    return list(db.query(
        f"""SELECT a.name AS account, m.id, m.name, m.role, m.created,
                   (SELECT COUNT(*) FROM keys k WHERE k.member_id = m.id AND k.revoked IS NULL) AS keys
            FROM members m JOIN accounts a ON a.id = m.account_id WHERE m.removed IS NULL {where}
            ORDER BY a.name, m.id""", params))


def check_role(role: str) -> str:
    if role not in ROLES:
        raise KeyStoreError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def add_member(db: sqlite_utils.Database, account: str, name: str, role: str, config: Config) -> dict:
    check_role(role)
    if not name.strip() or len(name) > 64 or not name.isprintable():
        raise KeyStoreError("member name must be 1-64 printable characters (it is shown in terminals and pages)")
    account_id, tier = _account(db, account)
    with Tx(db):
        if "team" not in config.tier(tier).permissions:
            raise KeyStoreError(f"account {account!r} is on the {tier} tier: team access needs the pro or "
                                "enterprise tier (one member per account until then)")
        if db.execute("SELECT 1 FROM members WHERE account_id = ? AND name = ? AND removed IS NULL",
                      [account_id, name]).fetchone():
            raise KeyStoreError(f"account {account!r} already has a member {name!r}")
        db.execute("INSERT INTO members (account_id, name, role, created) VALUES (?, ?, ?, ?)",
                   [account_id, name, role, iso(utcnow())])
        outbox.emit(db, account, "member.added", {"account": account, "member": name, "role": role})
    return get_member(db, account, name)


class RoleDenied(KeyStoreError):
    """The acting member's role is too low for this change."""


def set_role(db: sqlite_utils.Database, account: str, name: str, role: str, *, up_to: str | None = None) -> str:
    """Give member `name` another role (returns the old one); the last owner stays an owner.
    With `up_to` (the acting member's role), neither the member's present role nor the new
    one may rank above it: checked inside the change's transaction."""
    check_role(role)
    account_id, _ = _account(db, account)
    with Tx(db):
        member = get_member(db, account, name)  # in the transaction: not removed or changed meanwhile
        before = member["role"]
        if up_to is not None and RANK[before] > RANK[up_to]:
            raise RoleDenied(f"it cannot change the role of an {before}")
        if up_to is not None and RANK[role] > RANK[up_to]:
            raise RoleDenied(f"it cannot make anyone an {role}")
        if before == role:
            return before
        if before == "owner" and _owners(db, account_id) <= 1:
            raise KeyStoreError(f"{name!r} is the only owner of {account!r}; make another member owner first")
        db.execute("UPDATE members SET role = ? WHERE id = ?", [role, member["id"]])
        outbox.emit(db, account, "member.role_changed", {"account": account, "member": name, "role": role,
                                                          "previous_role": before})
    return before


def _owners(db, account_id: int) -> int:
    return db.execute("SELECT COUNT(*) FROM members WHERE account_id = ? AND role = 'owner' AND removed IS NULL",
                      [account_id]).fetchone()[0]


def remove_member(db: sqlite_utils.Database, account: str, name: str) -> list[str]:
    """Remove member `name` and revoke their keys (returned); the last owner stays."""
    member = get_member(db, account, name)
    account_id, _ = _account(db, account)
    with Tx(db):
        if member["role"] == "owner" and _owners(db, account_id) <= 1:
            raise KeyStoreError(f"{name!r} is the only owner of {account!r}; add another owner first")
        now = iso(utcnow())
        revoked = db.execute("SELECT id, name FROM keys WHERE member_id = ? AND revoked IS NULL ORDER BY created",
                             [member["id"]]).fetchall()
        db.execute("UPDATE keys SET revoked = ? WHERE member_id = ? AND revoked IS NULL", [now, member["id"]])
        db.execute("UPDATE members SET removed = ? WHERE id = ?", [now, member["id"]])
        for key_id, key_name in revoked:
            outbox.emit(db, account, "key.revoked", {"account": account, "key_id": key_id, "name": key_name,
                                                      "member": name, "revoked": now})
        outbox.emit(db, account, "member.removed", {"account": account, "member": name, "role": member["role"],
                                                     "revoked_keys": [k for k, _ in revoked]})
    return [k for k, _ in revoked]
