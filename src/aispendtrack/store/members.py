"""Members of an account (people) and their roles; every key belongs to one member.

Roles, highest first: owner, admin, member, viewer. Creating an account creates its owner.
A member is never given a role above the one of whoever adds them; removing a member
revokes their keys. Accounts whose tier lacks the `team` permission have one member.
"""

from __future__ import annotations

from aispendtrack.config import Config
from aispendtrack.store import outbox
from aispendtrack.store.conn import KEYS, KEYSTORE, Conn
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.records import KeyStoreError, Member

ROLES = ("owner", "admin", "member", "viewer")
RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}
OWNER_NAME = "owner"


def insert_owner(conn: Conn, account_id: int, name: str = OWNER_NAME) -> None:
    """The owner of a new account (inside its creating transaction)."""
    conn.execute("INSERT INTO members (account_id, name, role, created) VALUES (?, ?, 'owner', ?)",
               [account_id, name, iso(utcnow())])


def _account(conn: Conn, account: str) -> tuple[int, str]:
    row = conn.execute("SELECT id, tier FROM accounts WHERE name = ?", [account]).fetchone()
    if row is None:
        raise KeyStoreError(f"no account named {account!r} (create it with: aispendtrack accounts create {account})")
    return row[0], row[1]


def get_member(conn: Conn, account: str, name: str | None = None) -> Member:
    """Member `name` of `account` (None: its first owner)."""
    account_id, _ = _account(conn, account)
    sql = "SELECT id, name, role, created FROM members WHERE account_id = ? AND removed IS NULL"
    rows = conn.execute(sql + (" AND name = ?" if name is not None else " AND role = 'owner' ORDER BY id LIMIT 1"),
                      [account_id, *([name] if name is not None else [])]).fetchall()
    if not rows:
        raise KeyStoreError(f"account {account!r} has no member {name!r} (see: aispendtrack members list {account})")
    return Member(rows[0][0], account, rows[0][1], rows[0][2], rows[0][3])


def first_owner_id(conn: Conn, account_id: int) -> int | None:
    """The member who keeps access on a tier without team access: the account's first owner."""
    row = conn.execute("SELECT MIN(id) FROM members WHERE account_id = ? AND role = 'owner' AND removed IS NULL",
                     [account_id]).fetchone()
    return row[0]


def of_key(conn: Conn, key_id: str) -> Member | None:
    """The member holding key `key_id` (name, role), or None."""
    row = conn.execute("SELECT m.id, a.name, m.name, m.role, m.created FROM keys k JOIN members m ON m.id = k.member_id "
                       "JOIN accounts a ON a.id = m.account_id WHERE k.id = ?", [key_id]).fetchone()
    return None if row is None else Member(*row)


def list_members(conn: Conn, account: str | None = None) -> list[Member]:
    where, params = ("AND a.name = ?", [account]) if account else ("", [])
    if account:
        _account(conn, account)
    return [Member(*r) for r in conn.execute(
        f"""SELECT m.id, a.name, m.name, m.role, m.created,
                   (SELECT COUNT(*) FROM keys k WHERE k.member_id = m.id AND k.revoked IS NULL)
            FROM members m JOIN accounts a ON a.id = m.account_id WHERE m.removed IS NULL {where}
            ORDER BY a.name, m.id""", params).fetchall()]


def check_role(role: str) -> str:
    if role not in ROLES:
        raise KeyStoreError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def add_member(conn: Conn, account: str, name: str, role: str, config: Config) -> Member:
    check_role(role)
    if not name.strip() or len(name) > 64 or not name.isprintable():
        raise KeyStoreError("member name must be 1-64 printable characters (it is shown in terminals and pages)")
    account_id, tier = _account(conn, account)
    with conn.tx(KEYSTORE):
        conn.signal(KEYS)
        if "team" not in config.tier(tier).permissions:
            raise KeyStoreError(f"account {account!r} is on the {tier} tier: team access needs the pro or "
                                "enterprise tier (one member per account until then)")
        if conn.execute("SELECT 1 FROM members WHERE account_id = ? AND name = ? AND removed IS NULL",
                      [account_id, name]).fetchone():
            raise KeyStoreError(f"account {account!r} already has a member {name!r}")
        conn.execute("INSERT INTO members (account_id, name, role, created) VALUES (?, ?, ?, ?)",
                   [account_id, name, role, iso(utcnow())])
        outbox.emit(conn, account, "member.added", {"account": account, "member": name, "role": role})
    return get_member(conn, account, name)


class RoleDenied(KeyStoreError):
    """The acting member's role is too low for this change."""


def set_role(conn: Conn, account: str, name: str, role: str, *, up_to: str | None = None) -> str:
    """Give member `name` another role (returns the old one); the last owner stays an owner.
    With `up_to` (the acting member's role), neither the member's present role nor the new
    one may rank above it: checked inside the change's transaction."""
    check_role(role)
    account_id, _ = _account(conn, account)
    with conn.tx(KEYSTORE):
        conn.signal(KEYS)
        member = get_member(conn, account, name)  # in the transaction: not removed or changed meanwhile
        before = member.role
        if up_to is not None and RANK[before] > RANK[up_to]:
            raise RoleDenied(f"it cannot change the role of an {before}")
        if up_to is not None and RANK[role] > RANK[up_to]:
            raise RoleDenied(f"it cannot make anyone an {role}")
        if before == role:
            return before
        if before == "owner" and _owners(conn, account_id) <= 1:
            raise KeyStoreError(f"{name!r} is the only owner of {account!r}; make another member owner first")
        conn.execute("UPDATE members SET role = ? WHERE id = ?", [role, member.id])
        outbox.emit(conn, account, "member.role_changed", {"account": account, "member": name, "role": role,
                                                          "previous_role": before})
    return before


def _owners(conn: Conn, account_id: int) -> int:
    return conn.execute("SELECT COUNT(*) FROM members WHERE account_id = ? AND role = 'owner' AND removed IS NULL",
                      [account_id]).fetchone()[0]


def remove_member(conn: Conn, account: str, name: str) -> list[str]:
    """Remove member `name` and revoke their keys (returned); the last owner stays."""
    member = get_member(conn, account, name)
    account_id, _ = _account(conn, account)
    with conn.tx(KEYSTORE):
        conn.signal(KEYS)
        if member.role == "owner" and _owners(conn, account_id) <= 1:
            raise KeyStoreError(f"{name!r} is the only owner of {account!r}; add another owner first")
        now = iso(utcnow())
        revoked = conn.execute("SELECT id, name FROM keys WHERE member_id = ? AND revoked IS NULL ORDER BY created",
                             [member.id]).fetchall()
        conn.execute("UPDATE keys SET revoked = ? WHERE member_id = ? AND revoked IS NULL", [now, member.id])
        conn.execute("UPDATE members SET removed = ? WHERE id = ?", [now, member.id])
        for key_id, key_name in revoked:
            outbox.emit(conn, account, "key.revoked", {"account": account, "key_id": key_id, "name": key_name,
                                                      "member": name, "revoked": now})
        outbox.emit(conn, account, "member.removed", {"account": account, "member": name, "role": member.role,
                                                     "revoked_keys": [k for k, _ in revoked]})
    return [k for k, _ in revoked]
