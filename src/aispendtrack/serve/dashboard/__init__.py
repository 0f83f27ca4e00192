"""The spend dashboard at `/`: a key holder logs in with a key and sees the account's spend,
limits and latest calls; with `export` downloads the month, with `api` manages keys.

Server-rendered (Jinja2), a small script that polls `/dashboard/live.json`, an inline SVG
chart; every asset is served from `static/` (no CDN: it works offline).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    from aispendtrack.serve.dashboard.routes import router, templates

    for name in ("login.html", "dashboard.html", "_period.html", "_latency.html", "reconcile_run.html"):
        templates.get_template(name)  # compiled once at start, not on the first visitor's clock
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

