"""`/v1/providers`: the account's provider keys in the vault, for owner and admin keys.

The secret is a write-only field: it goes in with `PUT` and never comes back — answers hold
its hint, who set it and when, and whether it decrypts. `serve` never creates the master key
file (see README "Encryption and the master key"): without a master key a `PUT` is 503."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from aispendtrack.config import Config
from aispendtrack.serve import deps
from aispendtrack.serve.errors import fail
from aispendtrack.serve.roles import Caller, at_least
from aispendtrack.store.base import SqlStore
from aispendtrack.store.records import KeyStoreError
from aispendtrack.store.vault import MODES
from aispendtrack.vault import service
from aispendtrack.vault.crypto import VaultError

router = APIRouter(prefix="/v1/providers", tags=["providers"])
admin = at_least("admin")


class StoredKey(BaseModel):
    provider: str
    key_id: str | None = Field(description="null: the account's; else only this AiSpendTrack key's")
    hint: str
    set_by: str
    set_at: str
    master_key_id: str
    decrypts: bool
    problem: str | None = Field(description="why it does not decrypt (calls with it are answered 503)")


class SetKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(max_length=service.MAX_SECRET, description="write-only: never returned")
    key_id: str | None = Field(None, max_length=64)


class ModeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal[MODES]  # type: ignore[valid-type]


def _stored(item: service.Listed) -> StoredKey:
    data = item.as_json()
    del data["account"]
    return StoredKey(**data)


@router.get("", response_model=list[StoredKey])
def list_keys(who: Caller = Depends(admin), store: SqlStore = Depends(deps.store)) -> list[StoredKey]:
    return [_stored(i) for i in service.list_checked(store, who.key.account)]


@router.put("/{provider}", response_model=StoredKey)
def set_key(provider: str, body: SetKeyRequest, who: Caller = Depends(admin), store: SqlStore = Depends(deps.store),
            cfg: Config = Depends(deps.config)) -> StoredKey:
    account = who.key.account
    try:
        service.check_provider(provider, service.known_providers(cfg))
        record = service.store_secret(store, account, provider, body.key_id, body.secret,
                                      f"{who.member or 'owner'} ({who.key.key_id})", create=False)
    except VaultError as e:
        if "no vault master key" in str(e):
            raise fail(503, "vault_unavailable", str(e)) from None
        raise fail(400, "invalid_request", str(e)) from None
    except KeyStoreError as e:
        raise fail(400, "invalid_request", str(e)) from None
    return _stored(service.Listed(record, None))


@router.delete("/{provider}", status_code=204)
def remove_key(provider: str, key_id: str | None = Query(None, max_length=64), who: Caller = Depends(admin),
               store: SqlStore = Depends(deps.store)) -> Response:
    try:
        service.remove(store, who.key.account, provider, key_id)
    except KeyStoreError as e:
        raise fail(404, "not_found", str(e)) from None
    return Response(status_code=204)


@router.post("/mode", status_code=204)
def set_mode(body: ModeRequest, who: Caller = Depends(admin), store: SqlStore = Depends(deps.store)) -> Response:
    store.set_vault_mode(store.get_account(who.key.account).id, body.mode)
    return Response(status_code=204)
