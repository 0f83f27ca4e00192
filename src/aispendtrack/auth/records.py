"""A key as authentication sees it (`KeyRecord`), built from the store's `Credential` and
the config, and the decision on a presented key (`check`, `refusal`)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aispendtrack.config import Config
from aispendtrack.limits import permissions as perms
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.keys import account_limits
from aispendtrack.store.keytext import digest as digest_of
from aispendtrack.store.records import Credential


@dataclass(frozen=True)
class KeyRecord:
    digest: str
    key_id: str
    hint: str
    retired: str | None  # ISO time this secret stops being accepted (rotation grace)
    revoked: str | None
    expires: str | None
    account_id: int
    account: str
    tier: str
    requests_per_hour: int | None  # None = unlimited
    monthly_calls: int | None
    name: str | None = None
    permissions: tuple[str, ...] = perms.PERMISSIONS  # effective: tier's ∩ the key's own
    models: tuple[str, ...] | None = None  # model globs; None = any model
    budgeted: bool = False  # a dollar budget applies (key, account or tier): reserve per call
    held: str | None = None  # why the key does not work on its account's tier (a member's, without team)
    tags: tuple[tuple[str, str], ...] | None = None  # default tags of its calls, (name, value) sorted


@dataclass(frozen=True)
class Verdict:
    record: KeyRecord | None
    reason: str | None  # why the key was refused; None when accepted


def _held(c: Credential, tier_permissions: tuple[str, ...]) -> str | None:
    """A tier without `team` has one member: keys of anyone but the first owner wait for an upgrade."""
    if "team" in tier_permissions or c.member_id in (None, c.first_owner_id):
        return None
    return (f"key {c.key_id} belongs to member {c.member!r} of {c.account}, which is on the "
            f"{c.tier} tier: without team access only the owner's keys work until it is upgraded")


def record_of(c: Credential, config: Config, budgeted: set[tuple[str, str]]) -> KeyRecord:
    rph, monthly = account_limits(c, config)
    tier = config.tier(c.tier)
    return KeyRecord(
        digest=c.digest, key_id=c.key_id, hint=c.hint, retired=c.retired, revoked=c.revoked, expires=c.expires,
        account_id=c.account_id, account=c.account, tier=c.tier, requests_per_hour=rph, monthly_calls=monthly,
        name=c.name, permissions=perms.effective(tier.permissions, c.permissions), models=c.models,
        budgeted=(("key", c.key_id) in budgeted or ("account", str(c.account)) in budgeted
                  or tier.budget_usd is not None),
        held=_held(c, tier.permissions), tags=tuple(sorted(c.tags.items())) if c.tags else None,
    )


def records_of(credentials: list[Credential], config: Config, budgeted: set[tuple[str, str]]) -> dict[str, KeyRecord]:
    return {c.digest: record_of(c, config, budgeted) for c in credentials}


def refusal(record: KeyRecord, now_iso: str | None = None) -> str | None:
    """Why `record` may not be used now (revoked, held by its tier, expired, rotated out), or None.

    `now_iso` defaults to the current time, read only for a key that can expire or a
    secret that is being rotated out.
    """
    if record.revoked:
        return f"key {record.key_id} was revoked"
    if record.held:
        return record.held
    if now_iso is None and (record.expires or record.retired):
        now_iso = iso(utcnow())
    if record.expires and record.expires <= now_iso:
        return f"key {record.key_id} expired at {record.expires}"
    if record.retired and record.retired <= now_iso:
        return f"this secret of key {record.key_id} was rotated out at {record.retired}; use the new key"
    return None


UNKNOWN = ("unknown key: no key with this secret was issued on this proxy's database "
           "(check for a typo, or for a proxy started with another --db)")


def check(records: dict[str, KeyRecord], presented: str, now_iso: str | None = None) -> Verdict:
    """Decide on a well-formed `ask_` key. Lookup is by SHA-256 digest, so the time it
    takes says nothing about stored keys; the final compare is constant-time anyway."""
    d = digest_of(presented)
    record = records.get(d)
    if record is None or not hmac.compare_digest(record.digest, d):
        return Verdict(None, UNKNOWN)
    return Verdict(record, refusal(record, now_iso))


def lookup(store, config: Config, presented: str) -> Verdict:
    """`check` straight from the store for one presented key (the account plane: always current)."""
    d = digest_of(presented)
    found = store.credentials(d)
    budgeted = store.budgeted_subjects() if found else set()
    return check(records_of(found, config, budgeted), presented)


def lookup_digest(store, config: Config, digest: str) -> Verdict:
    """The same decision for the secret with this digest (a dashboard session's key)."""
    found = store.credentials(digest)
    if not found:
        return Verdict(None, "unknown key: it was never issued, or was deleted")
    record = record_of(found[0], config, store.budgeted_subjects())
    return Verdict(record, refusal(record))
