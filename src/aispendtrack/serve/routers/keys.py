"""`/v1/keys`: list, create, rotate and revoke keys of the caller's account.

No escalation: a key acts only on keys it could have made itself — every permission and
model of the target (or of the new key) must be the caller's own. A new key inherits the
caller's permissions and models unless it asks for fewer. Roles (`serve.roles`) compose:
owner/admin act on keys of members up to their own role, a member only on their own keys,
a viewer on none.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Response

from aispendtrack.auth import tags as tagrules
from aispendtrack.auth.records import KeyRecord
from aispendtrack.config import Config
from aispendtrack.limits import permissions as perms
from aispendtrack.serve import deps
from aispendtrack.serve.errors import fail
from aispendtrack.serve.models import Key, NewKey, NewKeyRequest
from aispendtrack.serve.roles import Caller, caller, deny
from aispendtrack.store import members
from aispendtrack.store.base import SqlStore
from aispendtrack.store.db import iso, parse_iso, utcnow
from aispendtrack.views.usage import rotation_due
from aispendtrack.store.keytext import NewKey as IssuedKey
from aispendtrack.store.keytext import check_expiry, parse_duration, parse_expiry
from aispendtrack.store.records import KeyInfo, KeyStoreError

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def _scope(key: KeyInfo, tier: str, cfg: Config) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    return perms.effective(cfg.tier(tier).permissions, key.permissions), key.models


def _within(caller: KeyRecord, permissions: tuple[str, ...], models: tuple[str, ...] | None) -> None:
    """403 unless `permissions` and `models` are all the caller's own."""
    for p in permissions:
        if p not in caller.permissions:
            raise fail(403, "permission_denied", f"this key has no {p} permission, so it cannot give one",
                       permission=p, tier=caller.tier)
    if not perms.models_within(models, caller.models):
        raise fail(403, "permission_denied", "this key may call only " + ", ".join(caller.models or ())
                   + "; it cannot give access to other models", permission="models", tier=caller.tier)


def _may_change(who: Caller, store: SqlStore, member: str | None) -> None:
    """403 unless `who` may create or change keys of `member` (None: their own)."""
    if who.role == "viewer":
        raise deny(who, "viewers make no key changes")
    if member is None or member == who.member:
        return
    if not who.whole_account:
        raise deny(who, "it acts only on its own member's keys")
    try:
        target = store.get_member(who.key.account, member)
    except KeyStoreError:
        raise fail(404, "not_found", f"no member {member!r} in account {who.key.account}") from None
    if members.RANK[target.role] > who.rank:
        raise deny(who, f"it cannot act on keys of an {target.role}")


def _target(store: SqlStore, who: Caller, key_id: str, cfg: Config) -> KeyInfo:
    """The key `key_id` of the caller's account, which the caller may act on (else 404/403)."""
    caller = who.key
    found = [k for k in store.list_keys(caller.account) if k.id == key_id]
    if not found or not (who.whole_account or found[0].member == who.member):
        # other accounts' (and, for members, other members') keys are not even acknowledged
        raise fail(404, "not_found", f"no key {key_id!r} in account {caller.account}")
    _may_change(who, store, found[0].member)
    _within(caller, *_scope(found[0], caller.tier, cfg))
    return found[0]


def _key(key: KeyInfo, tier: str, cfg: Config, now: str) -> Key:
    permissions, models = _scope(key, tier, cfg)
    return Key(id=key.id, name=key.name, member=key.member, hint=key.hint, state=key.state(now),
               created=key.created, expires=key.expires, revoked=key.revoked, last_used=key.last_used,
               permissions=list(permissions), models=None if models is None else list(models),
               rotated=key.secret_created or key.created, rotation_due=rotation_due(key, cfg, parse_iso(now).timestamp()),
               tags=key.tags)


def _new(new: IssuedKey, permissions, models, tags=None) -> NewKey:
    return NewKey(id=new.id, key=new.key, account=new.account, name=new.name, permissions=list(permissions),
                  models=None if models is None else list(models), tags=tags)


def _expiry(body: NewKeyRequest) -> datetime | None:
    """The new key's expiry from `expires` or `expires_in`, by the CLI's --expires rules (else 400)."""
    if body.expires is not None and body.expires_in is not None:
        raise fail(400, "invalid_request", "expires_in: give expires or expires_in, not both")
    try:
        if body.expires_in is not None:
            if parse_duration(body.expires_in) is None:
                raise ValueError("use a duration such as 30d, 12h or 90m (or give an expires date)")
            return parse_expiry(body.expires_in, utcnow())
    except ValueError as e:
        raise fail(400, "invalid_request", f"expires_in: {e}") from None
    if body.expires is None:
        return None
    if body.expires.tzinfo is None:
        raise fail(400, "invalid_request", "expires needs a time zone, e.g. 2026-12-31T00:00:00Z")
    try:
        return check_expiry(body.expires, utcnow())  # the CLI's --expires rule
    except ValueError as e:
        raise fail(400, "invalid_request", f"expires: {e}") from None


@router.get("", response_model=list[Key])
def list_keys(who: Caller = Depends(caller("api")), store: SqlStore = Depends(deps.store),
              cfg: Config = Depends(deps.config)) -> list[Key]:
    now, tier = iso(utcnow()), who.key.tier
    return [_key(k, tier, cfg, now) for k in store.list_keys(who.key.account)
            if who.whole_account or k.member == who.member]


@router.post("", response_model=NewKey, status_code=201)
def create_key(body: NewKeyRequest, who: Caller = Depends(caller("api")), store: SqlStore = Depends(deps.store),
               cfg: Config = Depends(deps.config)) -> NewKey:
    caller = who.key
    _may_change(who, store, body.member)
    try:
        permissions = perms.parse_permissions(body.permissions) if body.permissions is not None else caller.permissions
        models = perms.parse_models(body.models) if body.models is not None else caller.models
    except ValueError as e:
        raise fail(400, "invalid_request", str(e)) from None
    _within(caller, permissions, models)
    expires = _expiry(body)
    try:
        tags = tagrules.check_tags(body.tags) if body.tags is not None else None
    except ValueError as e:
        raise fail(400, "invalid_request", str(e)) from None
    try:
        new = store.create_key(caller.account, cfg, name=body.name, expires=expires, permissions=permissions,
                               models=models, member=body.member or who.member, tags=tags)
    except KeyStoreError as e:
        raise fail(409, "conflict", str(e)) from None
    return _new(new, permissions, models, tags)


@router.post("/{key_id}/rotate", response_model=NewKey)
def rotate_key(key_id: str, who: Caller = Depends(caller("api")), store: SqlStore = Depends(deps.store),
               cfg: Config = Depends(deps.config)) -> NewKey:
    key = _target(store, who, key_id, cfg)
    try:
        new = store.rotate_key(key_id, cfg)
    except KeyStoreError as e:
        raise fail(409, "conflict", str(e)) from None
    return _new(new, *_scope(key, who.key.tier, cfg), key.tags)


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: str, who: Caller = Depends(caller("api")), store: SqlStore = Depends(deps.store),
               cfg: Config = Depends(deps.config)) -> Response:
    _target(store, who, key_id, cfg)
    store.revoke_key(key_id)
    return Response(status_code=204)
