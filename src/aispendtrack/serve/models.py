"""Response and request bodies: the OpenAPI document at /openapi.json is the contract."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Window(BaseModel):
    limit: int | None = Field(description="null = unlimited")
    used: int
    remaining: int | None
    reset_seconds: int | None = Field(description="seconds until `used` next goes down; null when nothing is counted")


class BudgetStatus(BaseModel):
    limit_usd: str = Field(description="exact decimal, USD")
    period: str = Field(description="day | week | month | total (UTC; week = ISO, from Monday)")
    period_key: str = Field(description='the current period, e.g. "2026-11"; "total" for a total budget')
    spent_usd: str = Field(description="settled cost of the period")
    reserved_usd: str = Field(description="held by calls in flight")
    remaining_usd: str
    overshoot_usd: str = Field(description="what calls cost beyond the bound they reserved")
    reset_seconds: int | None = Field(description="null for a total budget")
    source: str = Field(description='"own", or "tier" for the tier default')


class Budgets(BaseModel):
    key: BudgetStatus | None = Field(description="null = no budget on the key")
    account: BudgetStatus | None = Field(description="null = no budget on the account")


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
    budget: Budgets
    rotated: str = Field(description="when this key's current secret was made (created, or last rotated)")
    rotation_due: bool = Field(description="the secret is [keys] rotate_after_days old or older: rotate it")


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
    rotated: str = Field(description="when its current secret was made (created, or last rotated)")
    rotation_due: bool = Field(description="the secret is [keys] rotate_after_days old or older: rotate it")
    tags: dict[str, str] | None = Field(None, description="default tags of its calls; null = none")


class NewKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    permissions: list[str] | None = Field(None, description="default: the calling key's own permissions")
    models: list[str] | None = Field(None, description="model globs; default: the calling key's own")
    expires: datetime | None = Field(None, description="when the key expires, with a time zone")
    expires_in: str | None = Field(None, max_length=20, description="instead of expires: a duration from now, as "
                                                                    "the CLI's --expires: 30d, 12h, 90m")
    member: str | None = Field(None, description="whose key; default the caller's own member (owner/admin: "
                                                 "any member up to their own role)")
    tags: dict[str, str] | None = Field(None, description="default tags of the key's calls, e.g. {\"env\": \"ci\"} "
                                        "(the tag headers' rules; a request's tag headers win per tag name)")


class NewKey(BaseModel):
    id: str
    key: str = Field(description="shown only in this answer; stored only as a digest")
    account: str
    name: str | None
    permissions: list[str]
    models: list[str] | None
    tags: dict[str, str] | None = None
