"""`aispendtrack serve [--host --port]`: run the account plane with uvicorn."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import click


@click.command("serve")
@click.option("--host", help="Listen address. Default: [serve] listen in the config (127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Listen port. Default: [serve] listen (8090).")
@click.option("--exit-with-parent", is_flag=True, hidden=True, help="Stop when the parent process exits (scripts/run).")
@click.option("--fd", type=int, hidden=True, help="Serve on this listening socket, bound by the parent (scripts/run).")
@click.pass_context
def serve_command(ctx: click.Context, host: str | None, port: int | None, exit_with_parent: bool,
                  fd: int | None) -> None:
    """Serve the HTTP API for key holders (/v1/me, /v1/usage, /v1/calls, /v1/keys, /v1/members,
    /v1/webhooks; docs at /docs) and deliver webhooks from the outbox."""
    import uvicorn

    from aispendtrack import config as configmod
    from aispendtrack.serve import listen
    from aispendtrack.serve.app import create_app

    try:
        config = configmod.load_config(ctx.obj["config_path"])
    except configmod.ConfigError as e:
        raise click.ClickException(str(e)) from None
    if exit_with_parent:
        _exit_with_parent()
    if fd is not None:
        sock = socket.socket(fileno=fd)
        host, port = sock.getsockname()[:2]
    else:
        host, port = host or config.serve.host, port or config.serve.port
        try:
            sock = listen.bind(host, port, ctx.obj["config_path"])
        except listen.ListenError as e:
            raise click.ClickException(f"{e} (or give serve --host/--port)") from None
    try:
        app = create_app(config, ctx.obj["db_path"], listen=(host, port))
    except Exception as e:
        raise click.ClickException(f"database {ctx.obj['db_path']}: {e}") from None
    click.echo(f"AiSpendTrack serve: http://{listen.shown(host, port)} (API docs at /docs)", err=True)
    server = uvicorn.Server(uvicorn.Config(app, access_log=False, log_level="warning", server_header=False))
    server.run(sockets=[sock])


def _exit_with_parent() -> None:
    """SIGTERM ourselves (uvicorn's graceful stop) once the parent process is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="aispendtrack-serve-parent", daemon=True).start()
