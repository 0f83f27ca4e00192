"""`/v1/budgets`: read, set and clear the account's or one key's dollar budget.

The same rules and the same exactness as `accounts budget` / `keys budget`: the period's
spend is recounted under the subject's admission lock, and the change is in force on the
next request in every gateway. Everyone with `api` reads the budgets that bind them; setting
and clearing are the account's to decide: an owner's or admin's key, and only keys of its own
account (another account's key is answered as one that does not exist).
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from aispendtrack.config import Config
from aispendtrack.serve import deps
from aispendtrack.serve.errors import fail
from aispendtrack.serve.roles import Caller, at_least, caller
from aispendtrack.store.base import SqlStore
from aispendtrack.views.budgets import budget_entries, budget_status

router = APIRouter(prefix="/v1/budgets", tags=["budgets"])


class BudgetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["account", "key"]
    key_id: str | None = Field(None, description="the key's id, for scope key")
    usd: str = Field(description="the budget in USD per period, a decimal such as \"50\" or \"0.25\"", max_length=40)
    period: Literal["day", "week", "month", "total"] = "month"


def _subject(store: SqlStore, who: Caller, scope: str, key_id: str | None) -> str:
    if scope == "account":
        if key_id is not None:
            raise fail(400, "invalid_request", "key_id: only for scope key")
        return who.key.account
    if not key_id:
        raise fail(400, "invalid_request", "key_id: required for scope key")
    if not any(k.id == key_id for k in store.list_keys(who.key.account)):
        raise fail(404, "not_found", f"no key {key_id!r} in account {who.key.account}")
    return key_id


@router.get("")
def list_budgets(who: Caller = Depends(caller("api")), store: SqlStore = Depends(deps.store),
                 cfg: Config = Depends(deps.config)) -> list[dict]:
    """The budgets in force (own or the tier's) of the account and of its active keys (a
    member's or viewer's key: the account's and their own keys')."""
    return budget_entries(store, cfg, account=who.key.account, member=None if who.whole_account else who.member)


@router.post("", status_code=201)
def set_budget(body: BudgetRequest, who: Caller = Depends(at_least("admin")), store: SqlStore = Depends(deps.store),
               cfg: Config = Depends(deps.config)) -> dict:
    subject = _subject(store, who, body.scope, body.key_id)
    try:
        store.set_budget(body.scope, subject, body.usd, body.period, now=time.time())
    except ValueError as e:
        raise fail(400, "invalid_request", f"usd: {e}") from None
    return {"scope": body.scope, "subject": subject, **budget_status(store, cfg, body.scope, subject)}


@router.delete("")
def clear_budget(scope: Literal["account", "key"], key_id: str | None = None,
                 who: Caller = Depends(at_least("admin")), store: SqlStore = Depends(deps.store)) -> dict:
    subject = _subject(store, who, scope, key_id)
    return {"scope": scope, "subject": subject, "cleared": store.clear_budget(scope, subject)}
