"""`GET /metrics`: the calling key's account in the Prometheus text format (views/metrics.py).

Protected like the API, and account-wide, so it takes a key with `api` held by an owner or
admin. Prometheus sends a key as `Authorization: Bearer ask_…` (`authorization:
credentials_file` in a scrape config) or as the `x-aispendtrack-key` header (`http_headers`).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from aispendtrack.config import Config
from aispendtrack.serve import deps
from aispendtrack.serve.roles import Caller, at_least
from aispendtrack.store.base import SqlStore
from aispendtrack.views.metrics import AccountMetrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics(who: Caller = Depends(at_least("admin")), store: SqlStore = Depends(deps.store),
            cfg: Config = Depends(deps.config)) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AccountMetrics(store, cfg, who.key.account, now=time.time()))
    # the text format 0.0.4: what Prometheus 2 and 3 both read without a fallback setting
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)
