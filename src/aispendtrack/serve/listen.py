"""The listening socket of `serve`, bound before anything else starts.

`aispendtrack run` binds it and hands it to the `serve` child (`--fd`), so an address in
use stops the start with one line, before mitmdump runs, instead of a `serve` that dies
unseen while the proxy carries on. `aispendtrack serve` alone binds it the same way.
"""

from __future__ import annotations

import socket
from pathlib import Path


class ListenError(Exception):
    """The address cannot be listened on; the message says which and what to change."""


def shown(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind(host: str, port: int, config: Path | None) -> socket.socket:
    """A socket listening on host:port (not inheritable: pass it on explicitly)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise _error(host, port, config, e) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: not past a live listener
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise _error(host, port, config, e) from None
    return sock


def _error(host: str, port: int, config: Path | None, e: OSError) -> ListenError:
    where = config if config is not None else "a mitm.toml here (none is in use)"
    return ListenError(
        f"AiSpendTrack serve cannot listen on {shown(host, port)}: {e.strerror or e}. Choose a free address "
        f'with [serve] listen = "host:port" in {where}, or set [serve] enabled = false to run the proxy '
        "without the API and dashboard"
    )
