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
from aispendtrack.store import members as rules
from aispendtrack.store.base import SqlStore
from aispendtrack.store.records import KeyStoreError
from aispendtrack.store.records import Member as Held

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


def _member(m: Held) -> Member:
    return Member(name=m.name, role=m.role, created=m.created, keys=m.keys or 0)


@router.get("", response_model=list[Member])
def list_members(who: Caller = Depends(at_least("admin", "team")),
                 store: SqlStore = Depends(deps.store)) -> list[Member]:
    return [_member(m) for m in store.list_members(who.key.account)]


@router.post("", response_model=Member, status_code=201)
def add_member(body: NewMember, who: Caller = Depends(at_least("admin", "team")),
               store: SqlStore = Depends(deps.store), cfg: Config = Depends(deps.config)) -> Member:
    if body.role not in rules.ROLES:
        raise fail(400, "invalid_request", f"unknown role {body.role!r}: choose one of {', '.join(rules.ROLES)}")
    if rules.RANK[body.role] > who.rank:
        raise deny(who, f"it cannot add an {body.role}")
    try:
        m = store.add_member(who.key.account, body.name, body.role, cfg)
    except KeyStoreError as e:
        raise fail(409, "conflict", str(e)) from None
    return _member(m)


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="owner, admin, member or viewer; never above the caller's own")


@router.patch("/{name}", response_model=Member)
def set_role(name: str, body: RoleChange, who: Caller = Depends(at_least("admin", "team")),
             store: SqlStore = Depends(deps.store)) -> Member:
    if body.role not in rules.ROLES:
        raise fail(400, "invalid_request", f"unknown role {body.role!r}: choose one of {', '.join(rules.ROLES)}")
    _target(store, who, name)
    try:
        store.set_role(who.key.account, name, body.role, up_to=who.role)
    except rules.RoleDenied as e:
        raise deny(who, str(e)) from None
    except KeyStoreError as e:
        raise fail(409, "conflict", str(e)) from None
    m = next((m for m in store.list_members(who.key.account) if m.name == name), None)
    if m is None:  # removed right after the change
        raise fail(404, "not_found", f"no member {name!r} in account {who.key.account}")
    return _member(m)


def _target(store: SqlStore, who: Caller, name: str) -> Held:
    try:
        return store.get_member(who.key.account, name)
    except KeyStoreError:
        raise fail(404, "not_found", f"no member {name!r} in account {who.key.account}") from None


@router.delete("/{name}", status_code=204)
def remove_member(name: str, who: Caller = Depends(at_least("admin", "team")),
                  store: SqlStore = Depends(deps.store)) -> Response:
    target = _target(store, who, name)
    if rules.RANK[target.role] > who.rank:
        raise deny(who, f"it cannot remove an {target.role}")
    try:
        store.remove_member(who.key.account, name)
    except KeyStoreError as e:
        raise fail(409, "conflict", str(e)) from None
    return Response(status_code=204)
