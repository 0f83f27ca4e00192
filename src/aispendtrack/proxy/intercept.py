"""Which TLS connections the proxy looks inside (regular, upstream, SOCKS and transparent modes).

The parent sets mitmproxy's `allow_hosts` to `intercept_patterns`: TLS whose CONNECT
target or SNI names a provider host or a reverse target is intercepted, every other TLS
connection is tunnelled untouched, so the rest of a client's HTTPS needs no CA. A
ClientHello without SNI names no host at all — a CONNECT to a bare IP address, or to a DNS
name that points at a provider's address — and a request inside it could name a provider
in its Host header only. `NamelessTls` intercepts such connections too, so that Host
header decides whether the flow is provider-bound (`providers.identify`). What stays out
of reach: TLS whose SNI names another host in front of the same servers (domain
fronting), and clients that bypass the proxy; see the README's regular-mode section.
"""

from __future__ import annotations

import logging
import re

from mitmproxy import ctx
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy import layer, mode_specs
from mitmproxy.proxy.layers import ClientTLSLayer, HttpLayer, ServerTLSLayer
from mitmproxy.proxy.layers.http import HTTPMode
from mitmproxy.proxy.layers.tls import HTTP_ALPNS, parse_client_hello

from aispendtrack import hostpattern
from aispendtrack.config import Config
from aispendtrack.proxy.state import Runtime

log = logging.getLogger(__name__)


def intercept_patterns(config: Config, modes: list[str]) -> list[str]:
    """`allow_hosts` regexes: provider hosts and reverse targets are intercepted, every
    other TLS connection is tunnelled untouched (no CA needed for the user's other HTTPS)."""
    hosts = {h for h in config.providers} | {h for h in config.upstreams}
    for spec in modes:
        try:
            mode = mode_specs.ProxyMode.parse(spec)
        except ValueError:
            continue
        if isinstance(mode, mode_specs.ReverseMode):
            hosts.add(f"{mode.address[0]}:{mode.address[1]}")
    patterns = []
    for host in sorted(hosts):
        if hostpattern.is_pattern(host):  # validated at start-up: `*` is one DNS label, never more
            patterns.append(hostpattern.allow_hosts_regex(host))
            continue
        # mitmproxy matches these case-insensitively; a trailing dot names the same host
        name, port = host.rsplit(":", 1) if re.search(r":\d+$", host) else (host, r"\d+")
        patterns.append(f"^{re.escape(name)}\\.?:{port}$")
    return patterns


def nameless_client_hello(data: bytes) -> bool | None:
    """True for a complete TLS ClientHello without SNI, False for one with SNI or data that
    is not TLS, None while the ClientHello is incomplete."""
    if not starts_like_tls_record(data):
        return False
    try:
        hello = parse_client_hello(data)
    except ValueError:
        return False  # not a ClientHello mitmproxy could intercept either
    if hello is None:
        return None
    return not hello.sni


def looks_like_http(data: bytes) -> bool:
    """An HTTP/1 request line or the HTTP/2 preface (`PRI * HTTP/2.0`): a method, then a space
    on the first line."""
    space = data.find(b" ")
    return len(data) >= 3 and data[:3].isalpha() and space != -1 and (data.find(b"\n") == -1 or space < data.find(b"\n"))


class NamelessTls:
    """Intercepts TLS without SNI where the addon's own `allow_hosts` would tunnel it."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self._patterns: list[str] = []

    def load(self, loader) -> None:
        loader.add_option(
            "aispendtrack_intercept_nameless_tls",
            bool,
            True,
            "Intercept TLS connections whose ClientHello names no host (no SNI: e.g. HTTPS to a bare IP "
            "address), so a provider named only in the Host header inside still needs a key. Such clients "
            "must then trust mitmproxy's CA. Off: they are tunnelled untouched, ungoverned. Applies only while "
            "the addon sets allow_hosts (aispendtrack_allow_hosts).",
        )

    def configure(self, updated: set[str]) -> None:
        if self.rt.ready and updated & {"mode", "aispendtrack_config", "aispendtrack_db"}:
            self._patterns = intercept_patterns(self.rt.config, list(ctx.options.mode))

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        context = nextlayer.context
        if nextlayer.layer is not None or not self._applies(context):
            return
        data = nextlayer.data_client()
        if context.layers and isinstance(context.layers[-1], ClientTLSLayer):
            # Inside TLS without SNI, `allow_hosts` sees only an HTTP/1 Host header and would
            # tunnel HTTP/2 or another host's HTTP/1 raw: HTTP is read as HTTP, so every
            # request's own Host decides.
            if not context.client.sni and (context.client.alpn in HTTP_ALPNS or looks_like_http(data)):
                nextlayer.layer = HttpLayer(context, HTTPMode.transparent)
        elif nameless_client_hello(data):
            log.debug("aispendtrack: intercepting TLS without SNI to %s", context.server.address)
            server_tls = ServerTLSLayer(context)
            server_tls.child_layer = ClientTLSLayer(context)
            nextlayer.layer = server_tls

    def _applies(self, context) -> bool:
        """Only where mitmproxy would tunnel what is not a provider host by the addon's own
        rules: your own allow_hosts or ignore_hosts, or none at all, are left as they are."""
        return (
            context.client.transport_protocol == "tcp"
            and context.server.address is not None
            and not isinstance(context.client.proxy_mode, mode_specs.ReverseMode)
            and ctx.options.aispendtrack_intercept_nameless_tls
            and bool(self._patterns)
            and not ctx.options.ignore_hosts
            and list(ctx.options.allow_hosts) == self._patterns
        )
