"""The calling key's member and role, as dependencies.

Roles compose with the key's own permissions (least privilege): a route first requires its
permission (`deps.require`), then a role. owner/admin act on the whole account; member on
their own keys and usage; viewer only reads their own usage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends

from aispendtrack.auth.records import KeyRecord
from aispendtrack.serve import deps
from aispendtrack.serve.errors import fail
from aispendtrack.store import members
from aispendtrack.store.base import SqlStore


@dataclass(frozen=True)
class Caller:
    key: KeyRecord
    member_id: int | None
    member: str | None
    role: str

    @property
    def rank(self) -> int:
        return members.RANK[self.role]

    @property
    def whole_account(self) -> bool:
        return self.rank >= members.RANK["admin"]


def of(store: SqlStore, key: KeyRecord) -> Caller:
    """`key` with its member (the dashboard passes this to the route functions it calls)."""
    m = store.member_of_key(key.key_id)
    if m is None:  # a key from before members: held by the owner
        return Caller(key, None, None, "owner")
    return Caller(key, m.id, m.name, m.role)


def caller(permission: str = "api") -> Callable[..., Caller]:
    """A dependency: the calling key with `permission`, and its member."""

    def resolve(key: KeyRecord = Depends(deps.require(permission)), store: SqlStore = Depends(deps.store)) -> Caller:
        return of(store, key)

    return resolve


def at_least(role: str, permission: str = "api") -> Callable[..., Caller]:
    """A dependency: the calling key with `permission`, held by a member of `role` or above."""

    def check(who: Caller = Depends(caller(permission))) -> Caller:
        if who.rank < members.RANK[role]:
            raise deny(who, f"this needs the {role} role or higher")
        return who

    return check


def deny(who: Caller, what: str):
    return fail(403, "role_denied", f"this key belongs to {who.member or 'the owner'} ({who.role}); {what}",
                role=who.role)
