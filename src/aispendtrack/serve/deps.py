"""Dependencies: the database, the config, the calling key, and permission checks.

A route states what it needs in its signature (`key: KeyRecord = Depends(require("export"))`)
and cannot forget it. Authentication is the proxy's: the `x-aispendtrack-key` header, the
same key store and the same 401 reasons, decided straight from SQLite so a key change is in
force at once. A key is never accepted in a URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import sqlite_utils
from fastapi import Depends, Request

from aispendtrack.config import Config
from aispendtrack.limits import permissions as perms
from aispendtrack.proxy.auth import HEADER, parse_header
from aispendtrack.serve.errors import fail
from aispendtrack.store import db as dbmod
from aispendtrack.store.health import file_id
from aispendtrack.store.keycache import KeyRecord, lookup_one
from aispendtrack.store.keytext import KEY_RE, PREFIX

log = logging.getLogger(__name__)


def config(request: Request) -> Config:
    return request.app.state.config


def connect(path) -> sqlite_utils.Database:
    """A connection for one request; 503 while the file is deleted or moved, never an empty
    one created in its place (the proxy's threads would follow it: see health.py)."""
    if file_id(path) is None:
        log.warning("aispendtrack serve: database %s is gone (deleted or moved): answering 503 until it is back", path)
        raise fail(503, "database_unavailable", "AiSpendTrack cannot read its database right now; try again later")
    # Sync dependencies and routes may run on different worker threads.
    return dbmod.connect(path, check_same_thread=False)


def database(request: Request) -> Iterator:
    conn = connect(request.app.state.db_path)
    try:
        yield conn
    finally:
        conn.conn.close()


def authenticate(request: Request, db, cfg: Config) -> KeyRecord:
    """The key the request names, or the 400/401 `HTTPException` (the body is not needed:
    `serve.bodies` calls this before reading one)."""
    if PREFIX in request.url.query or KEY_RE.search(request.url.path):
        raise fail(400, "key_in_url", f"AiSpendTrack keys are never accepted in a URL; send the {HEADER} header "
                   "(and replace that key: URLs end up in logs)")
    key, reason = parse_header(request.headers.getlist(HEADER))
    if key is not None:
        verdict = lookup_one(db, cfg, key)
        reason = verdict.reason
        if reason is None:
            return verdict.record
    raise fail(401, "invalid_api_key", f"AiSpendTrack: {reason}")


def current_key(request: Request, db=Depends(database), cfg: Config = Depends(config)) -> KeyRecord:
    return authenticate(request, db, cfg)


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
