"""`create_app(config, db_path)`: the FastAPI application of `aispendtrack serve`."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from aispendtrack.config import Config
from aispendtrack.reconcile.schedule import Scheduler
from aispendtrack.serve import dashboard, errors
from aispendtrack.serve.bodies import BodyGuard
from aispendtrack.serve.delivery import Deliverer
from aispendtrack.serve.webhook_targets import Policy
from aispendtrack.serve.hosts import HostCheck, HostRule
from aispendtrack.serve.routers import budgets, keys, me, members, metrics, providers, reconcile, usage, webhooks
from aispendtrack.store import open_store
from aispendtrack.store.records import StoreUnavailable


def create_app(config: Config, db_path: str | Path, *, deliver: bool = True,
               listen: tuple[str, int] | None = None) -> FastAPI:
    """The app, on one store opened here (its schema brought up to date) and closed when
    the app shuts down; with `deliver`, it runs the webhook delivery worker (and the daily
    reconciliation, when scheduled) while it serves. `listen` (host, port) is where it is
    served (default `[serve] listen`): Host headers are checked against it."""
    store = open_store(db_path)
    deliverer = Deliverer(store, policy=Policy.of(config.webhooks), rotate_after_days=config.keys.rotate_after_days) if deliver else None
    # `[reconcile] schedule = "daily"`: yesterday reconciled once a day, saved (reconcile/schedule.py)
    scheduler = Scheduler(store, config) if deliver and config.reconcile.schedule == "daily" else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for worker in (deliverer, scheduler):
            if worker is not None:
                worker.start()
        try:
            yield
        finally:
            for worker in (scheduler, deliverer):
                if worker is not None:
                    worker.stop()
            store.close()

    app = FastAPI(
        lifespan=lifespan,
        title="AiSpendTrack",
        summary="Key holders help themselves: usage, calls and keys of their own account.",
        version="1",
    )
    app.state.config, app.state.store = config, store
    app.add_exception_handler(StarletteHTTPException, errors.http_error)
    app.add_exception_handler(HTTPException, errors.http_error)
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    for storage in (StoreUnavailable, *store.engine_errors):
        app.add_exception_handler(storage, errors.storage_error)
    host, port = listen or (config.serve.host, config.serve.port)
    app.add_middleware(BodyGuard, max_bytes=config.serve.max_body_bytes)
    app.add_middleware(HostCheck, rule=HostRule.of(host, port, config.serve.allowed_hosts))  # outermost
    for router in (me.router, usage.router, keys.router, members.router, webhooks.router, metrics.router,
                   providers.router, budgets.router, reconcile.router):
        app.include_router(router)
    dashboard.install(app)
    return app
