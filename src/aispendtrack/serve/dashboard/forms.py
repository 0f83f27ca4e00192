"""The dashboard forms' fields read as the CLI reads its options, then handed to the API's
route functions: a new key's expiry (`--expires`) and default tags (`--tags`), a budget's
request. A bad field is an `HTTPException` 400 naming it, shown on the page like the API's
own refusals."""

from __future__ import annotations

from datetime import datetime

from fastapi import HTTPException
from pydantic import ValidationError

from aispendtrack.auth.tags import parse_tag_list
from aispendtrack.serve.routers.budgets import BudgetRequest
from aispendtrack.store.db import utcnow
from aispendtrack.store.keytext import parse_expiry


def _bad(message: str) -> HTTPException:
    return HTTPException(400, {"message": message})


def expiry(text: str) -> datetime | None:
    """`30d`, `12h`, `2026-12-31` (the CLI's --expires); None when blank."""
    if not text.strip():
        return None
    try:
        return parse_expiry(text[:40], utcnow())
    except ValueError as e:
        raise _bad(f"expires: {e}") from None


def tags(text: str) -> dict[str, str] | None:
    """`env=ci,team=search` (the CLI's --tags); None when blank."""
    if not text.strip():
        return None
    try:
        return parse_tag_list(text, "tags")
    except ValueError as e:
        raise _bad(str(e)) from None


def budget(scope: str, key_id: str | None, usd: str, period: str) -> BudgetRequest:
    """The `/v1/budgets` request body the budget form stands for (pydantic's checks, 400)."""
    try:
        return BudgetRequest(scope=scope, key_id=key_id, usd=usd.strip(), period=period or "month")
    except ValidationError as e:
        err = e.errors()[0]
        raise _bad(f"{err['loc'][0]}: {err['msg']}") from None
