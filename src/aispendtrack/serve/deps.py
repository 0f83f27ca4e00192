"""Dependencies: the database, the config, the calling key, and permission checks.

A route states what it needs in its signature (`key: KeyRecord = Depends(require("export"))`)
and cannot forget it. Authentication is the proxy's: the `x-aispendtrack-key` header, the
same key store and the same 401 reasons, decided straight from SQLite so a key change is in
force at once. A key is never accepted in a URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import sqlite_utils
from fastapi import Depends, Request

from aispendtrack.config import Config
from aispendtrack.limits import permissions as perms
from aispendtrack.proxy.auth import HEADER, parse_header
from aispendtrack.serve.errors import fail
from aispendtrack.store.keycache import KeyRecord, lookup_one
from aispendtrack.store.keytext import KEY_RE, PREFIX


def config(request: Request) -> Config:
    return request.app.state.config


def connect(state) -> sqlite_utils.Database:
    """A connection to the file serve started on (`state`: the app's): once that file was
    replaced or removed, `DatabaseLost` (503 `storage_unavailable`, see errors.py) until
    serve is restarted, never a connection to the file at the path now (store/health.py)."""
    return state.dbfile.connect(check_same_thread=False)  # routes may run on other threads


@contextlib.contextmanager
def opened(state) -> Iterator[sqlite_utils.Database]:
    conn = connect(state)
    try:
        yield conn
    finally:
        conn.conn.close()
        state.dbfile.release()  # nothing unless the file was lost meanwhile


def database(request: Request) -> Iterator:
    with opened(request.app.state) as conn:
        yield conn


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
