"""Dependencies: the store, the config, the calling key, and permission checks.

A route states what it needs in its signature (`key: KeyRecord = Depends(require("export"))`)
and cannot forget it. Authentication is the proxy's: the `x-aispendtrack-key` header, the
same key store and the same 401 reasons, decided straight from the store so a key change is
in force at once (`/metrics` also takes it as `Authorization: Bearer`, as Prometheus sends
one). A key is never accepted in a URL.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request

from aispendtrack.auth.header import HEADER, parse_header
from aispendtrack.auth.records import KeyRecord, lookup
from aispendtrack.config import Config
from aispendtrack.limits import permissions as perms
from aispendtrack.serve.errors import fail
from aispendtrack.store.base import SqlStore
from aispendtrack.store.keytext import KEY_RE, PREFIX


def config(request: Request) -> Config:
    return request.app.state.config


async def store(request: Request) -> SqlStore:
    """The app's one store (`app.state.store`); it gives each worker thread its own connection."""
    return request.app.state.store


def authenticate(request: Request, store: SqlStore, cfg: Config) -> KeyRecord:
    """The key the request names, or the 400/401 `HTTPException` (the body is not needed:
    `serve.bodies` calls this before reading one)."""
    if PREFIX in request.url.query or KEY_RE.search(request.url.path):
        raise fail(400, "key_in_url", f"AiSpendTrack keys are never accepted in a URL; send the {HEADER} header "
                   "(and replace that key: URLs end up in logs)")
    values = request.headers.getlist(HEADER)
    if not values and request.url.path == "/metrics":  # what Prometheus sends (credentials_file)
        values = [v[7:] for v in request.headers.getlist("authorization") if v[:7].lower() == "bearer "]
    key, reason = parse_header(values)
    if key is not None:
        verdict = lookup(store, cfg, key)
        reason = verdict.reason
        if reason is None:
            return verdict.record
    raise fail(401, "invalid_api_key", f"AiSpendTrack: {reason}")


def current_key(request: Request, store: SqlStore = Depends(store), cfg: Config = Depends(config)) -> KeyRecord:
    return authenticate(request, store, cfg)


def require(permission: str) -> Callable[..., KeyRecord]:
    """A dependency: the calling key, which must have `api` and `permission`."""
    needed = ("api",) if permission == "api" else ("api", permission)

    def check(key: KeyRecord = Depends(current_key), cfg: Config = Depends(config)) -> KeyRecord:
        for p in needed:
            if p not in key.permissions:
                raise fail(403, "permission_denied", perms.denial_message(p, key.tier, cfg.tier_permissions()),
                           permission=p, tier=key.tier)
        return key

    return check
