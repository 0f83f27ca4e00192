"""Upstream failures answered in the provider's JSON error format, not mitmproxy's HTML.

When the upstream cannot be reached or fails before its response headers arrive,
mitmproxy 12 answers the client with its own `502` HTML page and offers no hook to
replace it (setting `flow.response` in `error` is ignored). The SDKs then show a bare
`502 Bad Gateway`. This addon prepares the provider-shaped answer in `error` and a thin
wrapper around mitmproxy's HTTP/1 server layer sends it instead of the HTML page, for
that one client connection. HTTP/1 only: the official SDKs speak HTTP/1.1.
"""

from __future__ import annotations

import logging

from mitmproxy import connection, http
from mitmproxy.net.http import http1
from mitmproxy.proxy import commands
from mitmproxy.proxy.layers.http import _http1
from mitmproxy.proxy.layers.http._events import ResponseProtocolError

from aispendtrack.proxy import providers
from aispendtrack.proxy.metering import CLIENT_GONE
from aispendtrack.proxy.state import state_of

log = logging.getLogger(__name__)

# (substring of mitmproxy's / the OS's error text, what the caller reads)
_REASONS = [
    ("name or service not known", "name not resolved"),
    ("nodename nor servname", "name not resolved"),
    ("temporary failure in name resolution", "name not resolved"),
    ("no address associated", "name not resolved"),
    ("getaddrinfo failed", "name not resolved"),
    ("connection refused", "connection refused"),
    ("connect call failed", "connection refused"),
    ("network is unreachable", "network unreachable"),
    ("no route to host", "no route to host"),
    ("timed out", "connection timed out"),
    ("timeout", "connection timed out"),
    ("certificate verify failed", "its TLS certificate is not trusted"),
    ("connection reset", "connection reset before the response was complete"),
    ("peer closed connection", "connection closed before the response was complete"),
    ("server closed connection", "connection closed before the response was complete"),
]

# client connection id → the raw HTTP/1 response to send instead of mitmproxy's page
_pending: dict[str, bytes] = {}


def reason(error: str) -> str:
    """A short, readable cause for one of mitmproxy's upstream error messages."""
    low = error.lower()
    for needle, text in _REASONS:
        if needle in low:
            return text
    return error.strip().rstrip(".") or "failed"


def upstream_message(host: str, port: int, error: str) -> str:
    where = host if port in (80, 443) else f"{host}:{port}"
    return f"AiSpendTrack: upstream {where}: {reason(error)}"


def _send(self, event):
    raw = _pending.pop(self.conn.id, None) if isinstance(event, ResponseProtocolError) else None
    if (
        raw is not None
        and not self.response
        and self.conn.state & connection.ConnectionState.CAN_WRITE
        and event.code.http_status_code() is not None
    ):
        yield commands.SendData(self.conn, raw)
        yield commands.CloseConnection(self.conn)
        return
    yield from _original_send(self, event)


_original_send = _http1.Http1Server.send


def install() -> None:
    """Route mitmproxy's HTTP/1 error answers through `_send` (idempotent)."""
    if _http1.Http1Server.send is not _send:
        _http1.Http1Server.send = _send


class UpstreamErrors:
    """Provider-bound flows that failed upstream get a JSON error the SDK can read."""

    def __init__(self) -> None:
        install()

    def error(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state is None or flow.error is None:
            return
        if flow.error.msg.startswith(CLIENT_GONE) or flow.error.msg == flow.error.KILLED_MESSAGE:
            return
        message = upstream_message(flow.request.host, flow.request.port, flow.error.msg)
        resp = providers.error_response(state.shape, 502, message, "upstream_error", {"connection": "close"})
        _pending[flow.client_conn.id] = http1.assemble_response(resp)
        log.info("%s (%s)", message, flow.error.msg)

    def client_disconnected(self, client: connection.Client) -> None:
        _pending.pop(client.id, None)
