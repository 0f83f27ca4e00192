"""`/v1/members`: the people of the caller's account (needs `team` and an owner/admin key).

Nobody adds, removes or changes a member above their own role, nor gives a role above it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from aispendtrack.config import Config
from aispendtrack.serve import deps
from aispendtrack.serve.errors import fail
from aispendtrack.serve.roles import Caller, at_least, deny
from aispendtrack.store import members as store
from aispendtrack.store.tx import KeyStoreError

router = APIRouter(prefix="/v1/members", tags=["members"])


class Member(BaseModel):
    name: str
    role: str
    created: str
    keys: int = Field(description="active keys")


class NewMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    role: str = Field(description="owner, admin, member or viewer; never above the caller's own")


@router.get("", response_model=list[Member])
def list_members(who: Caller = Depends(at_least("admin", "team")), db=Depends(deps.database)) -> list[Member]:
    return [Member(**{k: r[k] for k in ("name", "role", "created", "keys")})
            for r in store.list_members(db, who.key.account)]


@router.post("", response_model=Member, status_code=201)
def add_member(body: NewMember, who: Caller = Depends(at_least("admin", "team")), db=Depends(deps.database),
               cfg: Config = Depends(deps.config)) -> Member:
    if body.role not in store.ROLES:
        raise fail(400, "invalid_request", f"unknown role {body.role!r}: choose one of {', '.join(store.ROLES)}")
    if store.RANK[body.role] > who.rank:
        raise deny(who, f"it cannot add an {body.role}")
    try:
        m = store.add_member(db, who.key.account, body.name, body.role, cfg)
    except KeyStoreError as e:
        raise fail(409, "conflict", str(e)) from None
    return Member(name=m["name"], role=m["role"], created=m["created"], keys=0)


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="owner, admin, member or viewer; never above the caller's own")


@router.patch("/{name}", response_model=Member)
def set_role(name: str, body: RoleChange, who: Caller = Depends(at_least("admin", "team")),
             db=Depends(deps.database)) -> Member:
    if body.role not in store.ROLES:
        raise fail(400, "invalid_request", f"unknown role {body.role!r}: choose one of {', '.join(store.ROLES)}")
    _target(db, who, name)
    try:
        store.set_role(db, who.key.account, name, body.role, up_to=who.role)
    except store.RoleDenied as e:
        raise deny(who, str(e)) from None
    except KeyStoreError as e:
        raise fail(409, "conflict", str(e)) from None
    m = next((r for r in store.list_members(db, who.key.account) if r["name"] == name), None)
    if m is None:  # removed right after the change
        raise fail(404, "not_found", f"no member {name!r} in account {who.key.account}")
    return Member(**{k: m[k] for k in ("name", "role", "created", "keys")})


def _target(db, who: Caller, name: str) -> dict:
    try:
        return store.get_member(db, who.key.account, name)
    except KeyStoreError:
        raise fail(404, "not_found", f"no member {name!r} in account {who.key.account}") from None


@router.delete("/{name}", status_code=204)
def remove_member(name: str, who: Caller = Depends(at_least("admin", "team")), db=Depends(deps.database)) -> Response:
    target = _target(db, who, name)
    if store.RANK[target["role"]] > who.rank:
        raise deny(who, f"it cannot remove an {target['role']}")
    try:
        store.remove_member(db, who.key.account, name)
    except KeyStoreError as e:
        raise fail(409, "conflict", str(e)) from None
    return Response(status_code=204)
