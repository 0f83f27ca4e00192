"""A trivial FastAPI app served the way `aispendtrack serve` serves its own (one uvicorn
process on a socket bound beforehand, no access log, no server header): the yardstick the
account plane's throughput is compared with, on the same box in the same run.

    python -m aispendtrack_dev.bench.trivial --port N

``GET /ping`` is an ``async def`` (runs on the event loop); ``GET /ping-def`` a plain
``def``, which FastAPI runs in its thread pool, as it runs ``/v1/me`` and the dashboard.
"""

from __future__ import annotations

import argparse
import sys


def create_app():
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict:
        return {"ok": True}

    @app.get("/ping-def")
    def ping_def() -> dict:
        return {"ok": True}

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    ap = argparse.ArgumentParser(prog="python -m aispendtrack_dev.bench.trivial")
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args(argv)
    from aispendtrack.serve import listen

    sock = listen.bind("127.0.0.1", a.port, None)  # the socket serve makes
    server = uvicorn.Server(uvicorn.Config(create_app(), access_log=False, log_level="warning", server_header=False))
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
