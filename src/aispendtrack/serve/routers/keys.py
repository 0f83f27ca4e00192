"""`/v1/keys`: list, create, rotate and revoke keys of the caller's account.

No escalation: a key acts only on keys it could have made itself — every permission and
model of the target (or of the new key) must be the caller's own. A new key inherits the
caller's permissions and models unless it asks for fewer. Roles (`serve.roles`) compose:
owner/admin act on keys of members up to their own role, a member only on their own keys,
a viewer on none.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from aispendtrack.config import Config
from aispendtrack.limits import permissions as perms
from aispendtrack.serve import deps
from aispendtrack.serve.errors import fail
from aispendtrack.serve.models import Key, NewKey, NewKeyRequest
from aispendtrack.serve.roles import Caller, caller, deny
from aispendtrack.store import keys as keystore
from aispendtrack.store import members
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.keycache import KeyRecord
from aispendtrack.store.keytext import check_expiry

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def _scope(row: dict, tier: str, cfg: Config) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    return perms.effective(cfg.tier(tier).permissions, keystore.decode(row["permissions"])), keystore.decode(row["models"])


def _within(caller: KeyRecord, permissions: tuple[str, ...], models: tuple[str, ...] | None) -> None:
    """403 unless `permissions` and `models` are all the caller's own."""
    for p in permissions:
        if p not in caller.permissions:
            raise fail(403, "permission_denied", f"this key has no {p} permission, so it cannot give one",
                       permission=p, tier=caller.tier)
    if not perms.models_within(models, caller.models):
        raise fail(403, "permission_denied", "this key may call only " + ", ".join(caller.models or ())
                   + "; it cannot give access to other models", permission="models", tier=caller.tier)


def _may_change(who: Caller, db, member: str | None) -> None:
    """403 unless `who` may create or change keys of `member` (None: their own)."""
    if who.role == "viewer":
        raise deny(who, "viewers make no key changes")
    if member is None or member == who.member:
        return
    if not who.whole_account:
        raise deny(who, "it acts only on its own member's keys")
    try:
        target = members.get_member(db, who.key.account, member)
    except keystore.KeyStoreError:
        raise fail(404, "not_found", f"no member {member!r} in account {who.key.account}") from None
    if members.RANK[target["role"]] > who.rank:
        raise deny(who, f"it cannot act on keys of an {target['role']}")


def _target(db, who: Caller, key_id: str, cfg: Config) -> dict:
    """The key `key_id` of the caller's account, which the caller may act on (else 404/403)."""
    caller = who.key
    rows = [r for r in keystore.list_keys(db, caller.account) if r["id"] == key_id]
    if not rows or not (who.whole_account or rows[0]["member"] == who.member):
        # other accounts' (and, for members, other members') keys are not even acknowledged
        raise fail(404, "not_found", f"no key {key_id!r} in account {caller.account}")
    _may_change(who, db, rows[0]["member"])
    _within(caller, *_scope(rows[0], caller.tier, cfg))
    return rows[0]


def _key(row: dict, tier: str, cfg: Config, now: str) -> Key:
    permissions, models = _scope(row, tier, cfg)
    return Key(id=row["id"], name=row["name"], member=row["member"], hint=row["hint"],
               state=keystore.key_state(row, now),
               created=row["created"], expires=row["expires"], revoked=row["revoked"], last_used=row["last_used"],
               permissions=list(permissions), models=None if models is None else list(models))


def _new(new: keystore.NewKey, permissions, models) -> NewKey:
    return NewKey(id=new.id, key=new.key, account=new.account, name=new.name, permissions=list(permissions),
                  models=None if models is None else list(models))


@router.get("", response_model=list[Key])
def list_keys(who: Caller = Depends(caller("api")), db=Depends(deps.database),
              cfg: Config = Depends(deps.config)) -> list[Key]:
    now, tier = iso(utcnow()), who.key.tier
    return [_key(r, tier, cfg, now) for r in keystore.list_keys(db, who.key.account)
            if who.whole_account or r["member"] == who.member]


@router.post("", response_model=NewKey, status_code=201)
def create_key(body: NewKeyRequest, who: Caller = Depends(caller("api")), db=Depends(deps.database),
               cfg: Config = Depends(deps.config)) -> NewKey:
    caller = who.key
    _may_change(who, db, body.member)
    try:
        permissions = perms.parse_permissions(body.permissions) if body.permissions is not None else caller.permissions
        models = perms.parse_models(body.models) if body.models is not None else caller.models
    except ValueError as e:
        raise fail(400, "invalid_request", str(e)) from None
    _within(caller, permissions, models)
    expires = body.expires
    if expires is not None:
        if expires.tzinfo is None:
            raise fail(400, "invalid_request", "expires needs a time zone, e.g. 2026-12-31T00:00:00Z")
        try:
            expires = check_expiry(expires, utcnow())  # the CLI's --expires rule
        except ValueError as e:
            raise fail(400, "invalid_request", f"expires: {e}") from None
    try:
        new = keystore.create_key(db, caller.account, cfg, name=body.name, expires=expires,
                                  permissions=permissions, models=models, member=body.member or who.member)
    except keystore.KeyStoreError as e:
        raise fail(409, "conflict", str(e)) from None
    return _new(new, permissions, models)


@router.post("/{key_id}/rotate", response_model=NewKey)
def rotate_key(key_id: str, who: Caller = Depends(caller("api")), db=Depends(deps.database),
               cfg: Config = Depends(deps.config)) -> NewKey:
    row = _target(db, who, key_id, cfg)
    try:
        new = keystore.rotate_key(db, key_id, cfg)
    except keystore.KeyStoreError as e:
        raise fail(409, "conflict", str(e)) from None
    return _new(new, *_scope(row, who.key.tier, cfg))


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: str, who: Caller = Depends(caller("api")), db=Depends(deps.database),
               cfg: Config = Depends(deps.config)) -> Response:
    _target(db, who, key_id, cfg)
    keystore.revoke_key(db, key_id)
    return Response(status_code=204)
