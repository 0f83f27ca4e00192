"""Upstream failures answered in the provider's JSON error format, not mitmproxy's HTML.

When the upstream cannot be reached or fails before its response headers arrive,
mitmproxy 12 answers the client with its own `502` HTML page and offers no hook to
replace it (setting `flow.response` in `error` is ignored). The SDKs then show a bare
`502 Bad Gateway`. This addon prepares the provider-shaped answer in `error`, and two thin
wrappers send it instead of the HTML page:
- HTTP/1: around mitmproxy's HTTP/1 server layer, for that one client connection (the
  layer writes its page and closes; ours is written and closed the same way).
- HTTP/2: the h2 server layer writes its own HTML page for a stream whose response
  protocol error arrives before any response headers (`Http2Connection._handle_event`),
  and one connection carries many streams, so a per-connection answer cannot work. The
  wrapper sits one level up, on the flow's `HttpStream.handle_protocol_error`, which knows
  the flow and its stream: after the `error` hook, instead of the protocol error it sends
  the prepared answer as an ordinary response (headers, body, end) on that stream only.
"""

from __future__ import annotations

import logging

from mitmproxy import connection, http
from mitmproxy.net.http import http1
from mitmproxy.proxy import commands
from mitmproxy.proxy.layers import http as http_layers
from mitmproxy.proxy.layers.http import _http1
from mitmproxy.proxy.layers.http._events import (ResponseData, ResponseEndOfMessage, ResponseHeaders,
                                                 ResponseProtocolError)

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
# HTTP/2: flow id → (client connection id, the response to send on the flow's stream)
_pending_h2: dict[str, tuple[str, http.Response]] = {}


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


def _protocol_error(self, event):
    """`HttpStream.handle_protocol_error`, with the protocol error that would reach an HTTP/2
    client replaced by the answer the `error` hook prepared for this flow (if any)."""
    inner = _original_protocol_error(self, event)
    reply = None
    while True:
        try:
            cmd = inner.send(reply)
        except StopIteration:
            return
        entry = None
        if (isinstance(cmd, http_layers.SendHttp) and isinstance(cmd.event, ResponseProtocolError)
                and cmd.connection is self.context.client):
            entry = _pending_h2.pop(self.flow.id, None)
            if self.server_state == self.state_stream_response_body:
                entry = None  # the client has the response's headers already: only a reset can say it failed
        if entry is None:
            reply = yield cmd
            continue
        resp = entry[1]
        client = self.context.client
        yield http_layers.SendHttp(ResponseHeaders(self.stream_id, resp, end_stream=False), client)
        yield http_layers.SendHttp(ResponseData(self.stream_id, resp.raw_content or b""), client)
        yield http_layers.SendHttp(ResponseEndOfMessage(self.stream_id), client)
        reply = None


_original_protocol_error = http_layers.HttpStream.handle_protocol_error


def install() -> None:
    """Route mitmproxy's HTTP/1 error answers through `_send` and HTTP/2 streams' through
    `_protocol_error` (idempotent)."""
    if _http1.Http1Server.send is not _send:
        _http1.Http1Server.send = _send
    if http_layers.HttpStream.handle_protocol_error is not _protocol_error:
        http_layers.HttpStream.handle_protocol_error = _protocol_error


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
        if flow.request.http_version == "HTTP/2.0":
            # the connection carries other streams: it stays open (and h2 has no connection header)
            resp = providers.error_response(state.shape, 502, message, "upstream_error")
            resp.http_version = "HTTP/2.0"
            _pending_h2[flow.id] = (flow.client_conn.id, resp)
        else:
            resp = providers.error_response(state.shape, 502, message, "upstream_error", {"connection": "close"})
            _pending[flow.client_conn.id] = http1.assemble_response(resp)
        log.info("%s (%s)", message, flow.error.msg)

    def client_disconnected(self, client: connection.Client) -> None:
        _pending.pop(client.id, None)
        for flow_id in [f for f, (c, _) in _pending_h2.items() if c == client.id]:
            del _pending_h2[flow_id]
