"""Key store: accounts and AiSpendTrack keys in SQLite.

A key is `ask_` + 32 characters from `secrets`; it is shown once and stored only as a
SHA-256 digest plus a display hint (`ask_…last4`). A key's id (`key_` + 12 hex) is stable
across rotations, so usage and limits continue on one line.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlite_utils

from aispendtrack.config import TIERS, Config, unlimited_to_none
from aispendtrack.store import members, outbox, webhook_endpoints
from aispendtrack.store.tx import KeyStoreError, Tx
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.keytext import (  # noqa: F401  (re-exported: callers name them keys.*)
    KEY_RE, PREFIX, NewKey, decode, digest, encode, generate_key, hint,
)


def ensure_schema(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS accounts (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, tier TEXT NOT NULL,
            created TEXT NOT NULL, requests_per_hour INTEGER, monthly_calls INTEGER)"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS keys (
            id TEXT PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id),
            name TEXT, created TEXT NOT NULL, last_used TEXT, revoked TEXT, expires TEXT)"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS key_secrets (
            digest TEXT PRIMARY KEY, key_id TEXT NOT NULL REFERENCES keys(id),
            hint TEXT NOT NULL, created TEXT NOT NULL, retired TEXT)"""
    )
    # A key's own permissions and model globs (JSON lists); NULL = all its tier allows / any model.
    have = {row[1] for row in db.execute("PRAGMA table_info(keys)").fetchall()}
    for column in ("permissions", "models"):
        if column not in have:
            db.execute(f"ALTER TABLE keys ADD COLUMN {column} TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS key_secrets_key_id ON key_secrets(key_id)")
    db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
    members.ensure_schema(db)
    outbox.ensure_schema(db)


MAX_NAME = 64


def check_name(what: str, name: str) -> None:
    """Account names and key labels are shown in terminals and pages: printable text only."""
    if not name.strip():
        raise KeyStoreError(f"{what} must not be empty")
    if len(name) > MAX_NAME:
        raise KeyStoreError(f"{what} is {len(name)} characters long; at most {MAX_NAME} are allowed")
    if not name.isprintable():
        raise KeyStoreError(f"{what} {name!r} contains control or invisible characters; use printable text")


def create_account(db: sqlite_utils.Database, name: str, tier: str = "free", owner: str = members.OWNER_NAME) -> dict:
    if tier not in TIERS:
        raise KeyStoreError(f"unknown tier {tier!r}: choose one of {', '.join(TIERS)}")
    check_name("account name", name)
    check_name("owner name", owner)
    with Tx(db):
        if db.execute("SELECT 1 FROM accounts WHERE name = ?", [name]).fetchone():
            raise KeyStoreError(f"account {name!r} already exists")
        cur = db.execute(
            "INSERT INTO accounts(name, tier, created) VALUES (?, ?, ?)", [name, tier, iso(utcnow())]
        )
        members.insert_owner(db, cur.lastrowid, owner)
    return get_account(db, name)


def get_account(db: sqlite_utils.Database, name: str) -> dict:
    row = db.execute("SELECT * FROM accounts WHERE name = ?", [name]).fetchone()
    if row is None:
        raise KeyStoreError(f"no account named {name!r} (create it with: aispendtrack accounts create {name})")
    return dict(zip([c[0] for c in db.execute("SELECT * FROM accounts LIMIT 0").description], row))


def list_accounts(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM accounts ORDER BY name"))


def set_account_limits(
    db: sqlite_utils.Database, name: str, *, requests_per_hour: int | str | None, monthly_calls: int | str | None
) -> dict:
    """Per-account overrides (enterprise): None keeps the tier default, "unlimited" → -1."""
    account = get_account(db, name)

    def enc(v):
        return None if v is None else (-1 if v == "unlimited" else int(v))

    with Tx(db):
        db.execute(
            "UPDATE accounts SET requests_per_hour = ?, monthly_calls = ? WHERE id = ?",
            [enc(requests_per_hour), enc(monthly_calls), account["id"]],
        )
    return get_account(db, name)


def account_limits(account: dict, config: Config) -> tuple[int | None, int | None]:
    """(requests per hour per key, monthly calls per account); None = unlimited.

    The one place limits are resolved: the account's overrides (`accounts.requests_per_hour`
    / `monthly_calls`: NULL = the tier's value from the config, negative = unlimited,
    n >= 0 = n, 0 blocks) over its tier's. Raises `ValueError` for an unknown tier.
    """
    if account["tier"] not in TIERS:
        raise ValueError(f"unknown tier {account['tier']!r} (expected one of {', '.join(TIERS)})")
    tier = config.tier(account["tier"])
    values = []
    for column in ("requests_per_hour", "monthly_calls"):
        override = account.get(column)
        if override is None:
            values.append(unlimited_to_none(getattr(tier, column)))
        else:
            values.append(None if override < 0 else override)
    return values[0], values[1]


def _keys_in_force(db: sqlite_utils.Database, account_id: int, now: str, team: bool) -> list[tuple[str, str]]:
    """(id, name) of the account's active keys that work on a tier with (`team`) or without
    team access, oldest first: without it only the first owner's keys work. Keys in rotation
    grace keep one row in `keys`, so grace never counts twice."""
    sql = "SELECT id, name FROM keys WHERE account_id = ? AND revoked IS NULL AND (expires IS NULL OR expires > ?)"
    params: list = [account_id, now]
    if not team:
        sql, params = sql + " AND (member_id IS NULL OR member_id = ?)", [*params, members.first_owner_id(db, account_id)]
    return db.execute(sql + " ORDER BY created, id", params).fetchall()


def create_key(
    db: sqlite_utils.Database,
    account: str,
    config: Config,
    *,
    name: str | None = None,
    expires: datetime | None = None,
    permissions: tuple[str, ...] | None = None,
    models: tuple[str, ...] | None = None,
    member: str | None = None,
) -> NewKey:
    """A new key of `member` (None: the owner); `permissions`/`models` narrow it (None: all
    the tier allows / any model)."""
    if name is not None:
        check_name("key name", name)
    acct = get_account(db, account)
    tier = config.tier(acct["tier"])
    if permissions is not None and (extra := [p for p in permissions if p not in tier.permissions]):
        raise KeyStoreError(
            f"the {acct['tier']} tier has no {', '.join(extra)} permission; "
            f"it allows {', '.join(tier.permissions) or 'nothing'}"
        )
    cap = unlimited_to_none(tier.max_keys)
    now = iso(utcnow())
    key = generate_key()
    key_id = "key_" + secrets.token_hex(6)
    with Tx(db):
        holder = members.get_member(db, account, member)  # in the transaction: not removed meanwhile
        team = "team" in tier.permissions
        if not team and holder["id"] != members.first_owner_id(db, acct["id"]):
            raise KeyStoreError(f"account {account!r} is on the {acct['tier']} tier: without team access only "
                                "the owner's keys work; upgrade it first")
        if cap is not None and len(_keys_in_force(db, acct["id"], now, team)) >= cap:
            raise KeyStoreError(
                f"account {account!r} ({acct['tier']} tier) already has its maximum of {cap} active "
                f"key{'s' if cap != 1 else ''}; revoke one, or move the account to a higher tier"
            )
        db.execute(
            "INSERT INTO keys(id, account_id, name, created, expires, permissions, models, member_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [key_id, acct["id"], name, now, iso(expires) if expires else None, encode(permissions), encode(models),
             holder["id"]],
        )
        db.execute(
            "INSERT INTO key_secrets(digest, key_id, hint, created) VALUES (?, ?, ?, ?)",
            [digest(key), key_id, hint(key), now],
        )
        outbox.emit(db, account, "key.created", {"account": account, "key_id": key_id, "name": name,
                                                 "member": holder["name"], "hint": hint(key),
                                                 "expires": iso(expires) if expires else None})
    return NewKey(id=key_id, key=key, account=account, name=name, hint=hint(key))


def set_tier(db: sqlite_utils.Database, name: str, tier: str, config: Config) -> dict:
    """Move account `name` to `tier`; a downgrade that would leave more keys in force than
    the new cap is refused, naming the newest keys to revoke. What the new tier lacks stops
    at once: without `team` only the first owner's keys work (the others are held, not
    revoked); without `webhooks` the endpoints are paused. Moving back restores both."""
    if tier not in TIERS:
        raise KeyStoreError(f"unknown tier {tier!r}: choose one of {', '.join(TIERS)}")
    acct = get_account(db, name)
    new = config.tier(tier)
    cap = unlimited_to_none(new.max_keys)
    with Tx(db):
        active = _keys_in_force(db, acct["id"], iso(utcnow()), "team" in new.permissions)
        if cap is not None and len(active) > cap:
            extra = active[cap:]
            listed = ", ".join(f"{k}" + (f" ({n})" if n else "") for k, n in extra)
            raise KeyStoreError(
                f"account {name!r} has {len(active)} active keys and the {tier} tier allows {cap}: "
                f"revoke {len(extra)} first ({listed}), e.g. aispendtrack keys revoke {extra[0][0]}"
            )
        db.execute("UPDATE accounts SET tier = ? WHERE id = ?", [tier, acct["id"]])
        webhook_endpoints.follow_tier(db, name, "webhooks" in new.permissions)
    return get_account(db, name)


def get_key(db: sqlite_utils.Database, key_id: str) -> dict:
    rows = list(
        db.query(
            "SELECT keys.*, accounts.name AS account FROM keys JOIN accounts ON accounts.id = keys.account_id "
            "WHERE keys.id = ?",
            [key_id],
        )
    )
    if not rows:
        raise KeyStoreError(f"no key with id {key_id!r} (see: aispendtrack keys list)")
    return rows[0]


def rotate_key(db: sqlite_utils.Database, key_id: str, config: Config) -> NewKey:
    """New secret under the same id; the current secrets stay valid for the grace period."""
    key = get_key(db, key_id)
    if key["revoked"]:
        raise KeyStoreError(f"key {key_id} is revoked; create a new key instead")
    now = utcnow()
    grace_end = iso(now + timedelta(seconds=config.keys.rotation_grace_seconds))
    new = generate_key()
    with Tx(db):
        db.execute(
            "UPDATE key_secrets SET retired = ? WHERE key_id = ? AND (retired IS NULL OR retired > ?)",
            [grace_end, key_id, grace_end],
        )
        db.execute(
            "INSERT INTO key_secrets(digest, key_id, hint, created) VALUES (?, ?, ?, ?)",
            [digest(new), key_id, hint(new), iso(now)],
        )
        outbox.emit(db, key["account"], "key.rotated", {"account": key["account"], "key_id": key_id,
                                                        "name": key["name"], "hint": hint(new),
                                                        "previous_valid_until": grace_end})
    return NewKey(id=key_id, key=new, account=key["account"], name=key["name"], hint=hint(new))


def revoke_key(db: sqlite_utils.Database, key_id: str) -> dict:
    key = get_key(db, key_id)
    if key["revoked"]:
        return key
    with Tx(db):
        now = iso(utcnow())
        db.execute("UPDATE keys SET revoked = ? WHERE id = ?", [now, key_id])
        holder = members.of_key(db, key_id)
        outbox.emit(db, key["account"], "key.revoked", {"account": key["account"], "key_id": key_id,
                                                        "name": key["name"], "member": holder and holder["name"],
                                                        "revoked": now})
    return get_key(db, key_id)


def list_keys(db: sqlite_utils.Database, account: str | None = None) -> list[dict]:
    """Keys with their current hint and state; never anything a key could be rebuilt from."""
    now = iso(utcnow())
    where, params = ("WHERE accounts.name = ?", [now, now, account]) if account else ("", [now, now])
    if account:
        get_account(db, account)
    return list(
        db.query(
            f"""SELECT keys.id, accounts.name AS account, keys.name, keys.created, keys.last_used,
                       keys.revoked, keys.expires, keys.permissions, keys.models,
                       (SELECT m.name FROM members m WHERE m.id = keys.member_id) AS member,
                       (SELECT hint FROM key_secrets s WHERE s.key_id = keys.id ORDER BY s.created DESC LIMIT 1) AS hint,
                       (SELECT COUNT(*) FROM key_secrets s WHERE s.key_id = keys.id AND s.retired IS NOT NULL
                            AND s.retired > ? AND keys.revoked IS NULL
                            AND (keys.expires IS NULL OR keys.expires > ?)) AS in_grace
                FROM keys JOIN accounts ON accounts.id = keys.account_id {where}
                ORDER BY accounts.name, keys.created""",
            params,
        )
    )


def key_state(key: dict, now: str) -> str:
    if key["revoked"]:
        return "revoked"
    if key["expires"] and key["expires"] <= now:
        return "expired"
    return "active"
