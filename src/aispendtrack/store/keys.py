"""Key store: accounts and AiSpendTrack keys.

A key is `ask_` + 32 characters from `secrets`; it is shown once and stored only as a
SHA-256 digest plus a display hint (`ask_…last4`). A key's id (`key_` + 12 hex) is stable
across rotations, so usage and limits continue on one line.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from aispendtrack.config import TIERS, Config, unlimited_to_none
from aispendtrack.store import members, outbox, webhook_endpoints
from aispendtrack.store.conn import KEYS, KEYSTORE, WEBHOOKS, Conn
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.records import Account, Credential, KeyInfo, KeyStoreError
from aispendtrack.store.keytext import (  # noqa: F401  (re-exported: callers name them keys.*)
    KEY_RE, PREFIX, NewKey, decode, decode_tags, digest, encode, encode_tags, generate_key, hint,
)


MAX_NAME = 64


def check_name(what: str, name: str) -> None:
    """Account names and key labels are shown in terminals and pages: printable text only."""
    if not name.strip():
        raise KeyStoreError(f"{what} must not be empty")
    if len(name) > MAX_NAME:
        raise KeyStoreError(f"{what} is {len(name)} characters long; at most {MAX_NAME} are allowed")
    if not name.isprintable():
        raise KeyStoreError(f"{what} {name!r} contains control or invisible characters; use printable text")


def create_account(conn: Conn, name: str, tier: str = "free", owner: str = members.OWNER_NAME) -> Account:
    if tier not in TIERS:
        raise KeyStoreError(f"unknown tier {tier!r}: choose one of {', '.join(TIERS)}")
    check_name("account name", name)
    check_name("owner name", owner)
    with conn.tx(KEYSTORE):
        conn.signal(KEYS)
        if conn.execute("SELECT 1 FROM accounts WHERE name = ?", [name]).fetchone():
            raise KeyStoreError(f"account {name!r} already exists")
        account_id = conn.insert("INSERT INTO accounts(name, tier, created) VALUES (?, ?, ?)",
                                 [name, tier, iso(utcnow())])
        members.insert_owner(conn, account_id, owner)
    return get_account(conn, name)


_ACCOUNT = "SELECT id, name, tier, created, requests_per_hour, monthly_calls FROM accounts"


def get_account(conn: Conn, name: str) -> Account:
    rows = conn.execute(_ACCOUNT + " WHERE name = ?", [name]).fetchall()
    if not rows:
        raise KeyStoreError(f"no account named {name!r} (create it with: aispendtrack accounts create {name})")
    return Account(*rows[0])


def list_accounts(conn: Conn) -> list[Account]:
    return [Account(*r) for r in conn.execute(_ACCOUNT + " ORDER BY name").fetchall()]


def set_account_limits(
    conn: Conn, name: str, *, requests_per_hour: int | str | None, monthly_calls: int | str | None
) -> Account:
    """Per-account overrides (enterprise): None keeps the tier default, "unlimited" → -1."""
    account = get_account(conn, name)

    def enc(v):
        return None if v is None else (-1 if v == "unlimited" else int(v))

    with conn.tx(KEYSTORE):
        conn.signal(KEYS)
        conn.execute(
            "UPDATE accounts SET requests_per_hour = ?, monthly_calls = ? WHERE id = ?",
            [enc(requests_per_hour), enc(monthly_calls), account.id],
        )
    return get_account(conn, name)


def account_limits(account: Account, config: Config) -> tuple[int | None, int | None]:
    """(requests per hour per key, monthly calls per account); None = unlimited.

    The one place limits are resolved: the account's overrides (`accounts.requests_per_hour`
    / `monthly_calls`: NULL = the tier's value from the config, negative = unlimited,
    n >= 0 = n, 0 blocks) over its tier's. Raises `ValueError` for an unknown tier.
    """
    if account.tier not in TIERS:
        raise ValueError(f"unknown tier {account.tier!r} (expected one of {', '.join(TIERS)})")
    tier = config.tier(account.tier)
    values = []
    for column in ("requests_per_hour", "monthly_calls"):
        override = getattr(account, column)
        if override is None:
            values.append(unlimited_to_none(getattr(tier, column)))
        else:
            values.append(None if override < 0 else override)
    return values[0], values[1]


def _keys_in_force(conn: Conn, account_id: int, now: str, team: bool) -> list[tuple[str, str]]:
    """(id, name) of the account's active keys that work on a tier with (`team`) or without
    team access, oldest first: without it only the first owner's keys work. Keys in rotation
    grace keep one row in `keys`, so grace never counts twice."""
    sql = "SELECT id, name FROM keys WHERE account_id = ? AND revoked IS NULL AND (expires IS NULL OR expires > ?)"
    params: list = [account_id, now]
    if not team:
        sql, params = sql + " AND (member_id IS NULL OR member_id = ?)", [*params, members.first_owner_id(conn, account_id)]
    return [tuple(r) for r in conn.execute(sql + " ORDER BY created, id", params).fetchall()]


def create_key(
    conn: Conn,
    account: str,
    config: Config,
    *,
    name: str | None = None,
    expires: datetime | None = None,
    permissions: tuple[str, ...] | None = None,
    models: tuple[str, ...] | None = None,
    member: str | None = None,
    tags: dict[str, str] | None = None,
) -> NewKey:
    """A new key of `member` (None: the owner); `permissions`/`models` narrow it (None: all
    the tier allows / any model). The tier's key cap holds under concurrent creation: the
    count and the insert are one key-store transaction."""
    if name is not None:
        check_name("key name", name)
    acct = get_account(conn, account)
    tier = config.tier(acct.tier)
    if permissions is not None and (extra := [p for p in permissions if p not in tier.permissions]):
        raise KeyStoreError(
            f"the {acct.tier} tier has no {', '.join(extra)} permission; "
            f"it allows {', '.join(tier.permissions) or 'nothing'}"
        )
    cap = unlimited_to_none(tier.max_keys)
    now = iso(utcnow())
    key = generate_key()
    key_id = "key_" + secrets.token_hex(6)
    with conn.tx(KEYSTORE):
        conn.signal(KEYS)
        holder = members.get_member(conn, account, member)  # in the transaction: not removed meanwhile
        team = "team" in tier.permissions
        if not team and holder.id != members.first_owner_id(conn, acct.id):
            raise KeyStoreError(f"account {account!r} is on the {acct.tier} tier: without team access only "
                                "the owner's keys work; upgrade it first")
        if cap is not None and len(_keys_in_force(conn, acct.id, now, team)) >= cap:
            raise KeyStoreError(
                f"account {account!r} ({acct.tier} tier) already has its maximum of {cap} active "
                f"key{'s' if cap != 1 else ''}; revoke one, or move the account to a higher tier"
            )
        conn.execute(
            "INSERT INTO keys(id, account_id, name, created, expires, permissions, models, member_id, tags) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [key_id, acct.id, name, now, iso(expires) if expires else None, encode(permissions), encode(models),
             holder.id, encode_tags(tags)],
        )
        conn.execute(
            "INSERT INTO key_secrets(digest, key_id, hint, created) VALUES (?, ?, ?, ?)",
            [digest(key), key_id, hint(key), now],
        )
        outbox.emit(conn, account, "key.created", {"account": account, "key_id": key_id, "name": name,
                                                   "member": holder.name, "hint": hint(key),
                                                   "expires": iso(expires) if expires else None})
    return NewKey(id=key_id, key=key, account=account, name=name, hint=hint(key))


def set_tier(conn: Conn, name: str, tier: str, config: Config) -> Account:
    """Move account `name` to `tier`; a downgrade that would leave more keys in force than
    the new cap is refused, naming the newest keys to revoke. What the new tier lacks stops
    at once: without `team` only the first owner's keys work (the others are held, not
    revoked); without `webhooks` the endpoints are paused. Moving back restores both."""
    if tier not in TIERS:
        raise KeyStoreError(f"unknown tier {tier!r}: choose one of {', '.join(TIERS)}")
    acct = get_account(conn, name)
    new = config.tier(tier)
    cap = unlimited_to_none(new.max_keys)
    with conn.tx(KEYSTORE):
        conn.signal(KEYS, WEBHOOKS)
        active = _keys_in_force(conn, acct.id, iso(utcnow()), "team" in new.permissions)
        if cap is not None and len(active) > cap:
            extra = active[cap:]
            listed = ", ".join(f"{k}" + (f" ({n})" if n else "") for k, n in extra)
            raise KeyStoreError(
                f"account {name!r} has {len(active)} active keys and the {tier} tier allows {cap}: "
                f"revoke {len(extra)} first ({listed}), e.g. aispendtrack keys revoke {extra[0][0]}"
            )
        conn.execute("UPDATE accounts SET tier = ? WHERE id = ?", [tier, acct.id])
        webhook_endpoints.follow_tier(conn, name, "webhooks" in new.permissions)
    return get_account(conn, name)


def _key_sql(where: str) -> str:
    return f"""SELECT keys.id, accounts.name AS account, keys.name, keys.created, keys.last_used,
                      keys.revoked, keys.expires, keys.permissions, keys.models,
                      (SELECT m.name FROM members m WHERE m.id = keys.member_id) AS member,
                      (SELECT hint FROM key_secrets s WHERE s.key_id = keys.id ORDER BY s.created DESC LIMIT 1) AS hint,
                      (SELECT COUNT(*) FROM key_secrets s WHERE s.key_id = keys.id AND s.retired IS NOT NULL
                           AND s.retired > ? AND keys.revoked IS NULL
                           AND (keys.expires IS NULL OR keys.expires > ?)) AS in_grace,
                      keys.account_id, keys.member_id,
                      (SELECT MAX(s.created) FROM key_secrets s WHERE s.key_id = keys.id) AS secret_created,
                      keys.tags
               FROM keys JOIN accounts ON accounts.id = keys.account_id {where}"""


def _key_info(row: tuple) -> KeyInfo:
    (id_, account, name, created, last_used, revoked, expires, permissions, models, member, hint_, in_grace,
     account_id, member_id, secret_created, tags) = row
    return KeyInfo(id_, account, name, created, last_used, revoked, expires, decode(permissions), decode(models),
                   member, hint_, bool(in_grace), account_id, member_id, secret_created, decode_tags(tags))


def get_key(conn: Conn, key_id: str) -> KeyInfo:
    now = iso(utcnow())
    rows = conn.execute(_key_sql("WHERE keys.id = ?"), [now, now, key_id]).fetchall()
    if not rows:
        raise KeyStoreError(f"no key with id {key_id!r} (see: aispendtrack keys list)")
    return _key_info(rows[0])


def rotate_key(conn: Conn, key_id: str, config: Config) -> NewKey:
    """New secret under the same id; the current secrets stay valid for the grace period."""
    key = get_key(conn, key_id)
    if key.revoked:
        raise KeyStoreError(f"key {key_id} is revoked; create a new key instead")
    now = utcnow()
    grace_end = iso(now + timedelta(seconds=config.keys.rotation_grace_seconds))
    new = generate_key()
    with conn.tx(KEYSTORE):
        conn.signal(KEYS)
        conn.execute(
            "UPDATE key_secrets SET retired = ? WHERE key_id = ? AND (retired IS NULL OR retired > ?)",
            [grace_end, key_id, grace_end],
        )
        conn.execute(
            "INSERT INTO key_secrets(digest, key_id, hint, created) VALUES (?, ?, ?, ?)",
            [digest(new), key_id, hint(new), iso(now)],
        )
        outbox.emit(conn, key.account, "key.rotated", {"account": key.account, "key_id": key_id,
                                                       "name": key.name, "hint": hint(new),
                                                       "previous_valid_until": grace_end})
    return NewKey(id=key_id, key=new, account=key.account, name=key.name, hint=hint(new))


def revoke_key(conn: Conn, key_id: str) -> KeyInfo:
    key = get_key(conn, key_id)
    if key.revoked:
        return key
    with conn.tx(KEYSTORE):
        conn.signal(KEYS)
        now = iso(utcnow())
        conn.execute("UPDATE keys SET revoked = ? WHERE id = ?", [now, key_id])
        holder = members.of_key(conn, key_id)
        outbox.emit(conn, key.account, "key.revoked", {"account": key.account, "key_id": key_id,
                                                       "name": key.name, "member": holder and holder.name,
                                                       "revoked": now})
    return get_key(conn, key_id)


def list_keys(conn: Conn, account: str | None = None) -> list[KeyInfo]:
    """Keys with their current hint and state; never anything a key could be rebuilt from."""
    now = iso(utcnow())
    where, params = ("WHERE accounts.name = ?", [now, now, account]) if account else ("", [now, now])
    if account:
        get_account(conn, account)
    rows = conn.execute(_key_sql(where) + " ORDER BY accounts.name, keys.created", params).fetchall()
    return [_key_info(r) for r in rows]


def touch_keys(conn: Conn, key_ids, when: str) -> None:
    """Record that these keys were used (`last_used`: informational, no change signal)."""
    conn.executemany("UPDATE keys SET last_used = ? WHERE id = ?", [(when, k) for k in key_ids])


def key_state(key: KeyInfo, now: str) -> str:
    return key.state(now)


_CREDENTIALS = """SELECT s.digest, s.key_id, s.hint, s.retired, k.revoked, k.expires, k.name, k.permissions, k.models,
                         a.id, a.name, a.tier, a.requests_per_hour, a.monthly_calls, k.member_id,
                         (SELECT m.name FROM members m WHERE m.id = k.member_id),
                         (SELECT MIN(o.id) FROM members o WHERE o.account_id = a.id AND o.role = 'owner'
                              AND o.removed IS NULL), k.tags
                  FROM key_secrets s JOIN keys k ON k.id = s.key_id JOIN accounts a ON a.id = k.account_id"""


def credentials(conn: Conn, digest: str | None = None) -> list[Credential]:
    """Every key secret with what authentication needs of its key, its holder and its
    account (the proxy's key cache), or only the secret with this digest (serve: always
    current)."""
    sql, params = (_CREDENTIALS, []) if digest is None else (_CREDENTIALS + " WHERE s.digest = ?", [digest])
    return [Credential(*r[:7], decode(r[7]), decode(r[8]), *r[9:17], decode_tags(r[17]))
            for r in conn.execute(sql, params).fetchall()]


def versions(conn: Conn) -> dict[str, str]:
    """The change counters (`keys_version`, `budgets_version`, …): equal → nothing to reload."""
    return dict(conn.execute("SELECT name, value FROM meta").fetchall())
