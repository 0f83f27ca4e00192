"""`GET /v1/me`: who this key is, what it may do, and where it stands now."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends

from aispendtrack.config import Config
from aispendtrack.serve import deps
from aispendtrack.serve.models import Me
from aispendtrack.serve.roles import Caller, caller
from aispendtrack.store.base import SqlStore
from aispendtrack.views.me import key_standing
from aispendtrack.views.usage import rotation_due

router = APIRouter(prefix="/v1", tags=["me"])


@router.get("/me", response_model=Me)
def me(who: Caller = Depends(caller("api")), store: SqlStore = Depends(deps.store),
       cfg: Config = Depends(deps.config)) -> Me:
    key = who.key
    s = key_standing(store, cfg, key.key_id)
    info = store.get_key(key.key_id)
    return Me(
        key_id=key.key_id, name=key.name, account=key.account, tier=key.tier,
        permissions=list(key.permissions), models=None if key.models is None else list(key.models),
        member=who.member, role=who.role, hour=s["hour"], month=s["month"], spend_month_usd=s["spend_month_usd"],
        budget=s["budget"], rotated=info.secret_created or info.created, rotation_due=rotation_due(info, cfg, time.time()),
    )
