"""`create_app(config, db_path)`: the FastAPI application of `aispendtrack serve`."""

from __future__ import annotations

import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from aispendtrack.config import Config
from aispendtrack.serve import dashboard, errors
from aispendtrack.serve.bodies import BodyGuard
from aispendtrack.serve.delivery import Deliverer
from aispendtrack.serve.webhook_targets import Policy
from aispendtrack.serve.hosts import HostCheck, HostRule
from aispendtrack.serve.routers import keys, me, members, usage, webhooks
from aispendtrack.store import db as dbmod
from aispendtrack.store import schema
from aispendtrack.store.health import DbFile


def create_app(config: Config, db_path: str | Path, *, deliver: bool = True,
               listen: tuple[str, int] | None = None) -> FastAPI:
    """The app; with `deliver`, it runs the webhook delivery worker while it serves.
    `listen` (host, port) is where it is served (default `[serve] listen`): Host headers
    are checked against it."""
    dbfile = DbFile(db_path)  # pinned here: serve uses this file or none (see store/health.py)
    database = dbfile.connect()
    try:
        schema.ensure_schema(database)
        dashboard.ensure_schema(database)
    finally:
        database.conn.close()
    deliverer = Deliverer(db_path, dbfile=dbfile, policy=Policy.of(config.webhooks)) if deliver else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if deliverer is not None:
            deliverer.start()
        try:
            yield
        finally:
            if deliverer is not None:
                deliverer.stop()
            dbfile.close()

    app = FastAPI(
        lifespan=lifespan,
        title="AiSpendTrack",
        summary="Key holders help themselves: usage, calls and keys of their own account.",
        version="1",
    )
    app.state.config, app.state.db_path, app.state.dbfile = config, Path(db_path), dbfile
    app.add_exception_handler(StarletteHTTPException, errors.http_error)
    app.add_exception_handler(HTTPException, errors.http_error)
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    for storage in (sqlite3.Error, dbmod.DatabaseError):
        app.add_exception_handler(storage, errors.storage_error)
    host, port = listen or (config.serve.host, config.serve.port)
    app.add_middleware(BodyGuard, max_bytes=config.serve.max_body_bytes)
    app.add_middleware(HostCheck, rule=HostRule.of(host, port, config.serve.allowed_hosts))  # outermost
    for router in (me.router, usage.router, keys.router, members.router, webhooks.router):
        app.include_router(router)
    dashboard.install(app)
    return app
