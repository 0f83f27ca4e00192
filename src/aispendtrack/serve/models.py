"""Response and request bodies: the OpenAPI document at /openapi.json is the contract."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Window(BaseModel):
    limit: int | None = Field(description="null = unlimited")
    used: int
    remaining: int | None
    reset_seconds: int | None = Field(description="seconds until `used` next goes down; null when nothing is counted")


class Me(BaseModel):
    key_id: str
    name: str | None
    account: str
    tier: str
    permissions: list[str]
    models: list[str] | None = Field(description="model globs this key may call; null = any model")
    member: str | None = None
    role: str | None = None
    hour: Window
    month: Window
    spend_month_usd: str = Field(description="exact decimal, USD, this calendar month (UTC)")


class Key(BaseModel):
    id: str
    name: str | None
    member: str | None = Field(description="the member (person) holding the key")
    hint: str
    state: str
    created: str
    expires: str | None
    revoked: str | None
    last_used: str | None
    permissions: list[str]
    models: list[str] | None


class NewKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    permissions: list[str] | None = Field(None, description="default: the calling key's own permissions")
    models: list[str] | None = Field(None, description="model globs; default: the calling key's own")
    expires: datetime | None = None
    member: str | None = Field(None, description="whose key; default the caller's own member (owner/admin: "
                                                 "any member up to their own role)")


class NewKey(BaseModel):
    id: str
    key: str = Field(description="shown only in this answer; stored only as a digest")
    account: str
    name: str | None
    permissions: list[str]
    models: list[str] | None
