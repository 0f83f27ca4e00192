"""Which `Host` headers `serve` answers (a DNS-rebinding defence), as an ASGI middleware.

A page on an attacker's domain whose DNS name is then pointed at 127.0.0.1 can make the
browser send requests to `serve` as if they were same-origin; its `Host` header still
names the attacker's domain. So `serve` answers only Host headers that name:

- its listen address, `127.0.0.1`, `localhost` or `[::1]`, with its port (or no port);
- any IP address with its port when it listens on all addresses (`0.0.0.0`, `::`): an
  address cannot be rebound;
- a name in `[serve] allowed_hosts` ("name" any port, "name:port", globs).

Anything else is answered 400 before the application sees the request. A request with no
Host header at all (HTTP/1.0; no browser sends one) is let through.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from fnmatch import fnmatchcase

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARD = frozenset({"0.0.0.0", "::", ""})


def split_host(value: str) -> tuple[str, int | None] | None:
    """`name[:port]` or `[v6][:port]` → (lower-case name without a trailing dot, port);
    None when it is not a host at all."""
    value = value.strip().lower()
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    else:
        name, _, port = value.partition(":") if value.count(":") == 1 else (value, "", "")
        if ":" in name:
            return None
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return None
    name = name.rstrip(".")
    return (name, int(port) if port else None) if name else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostRule:
    port: int
    names: frozenset[str]  # accepted with `port` (or no port)
    any_ip: bool  # listening on every address: any IP literal with `port`
    allowed: tuple[tuple[str, int | None], ...]  # [serve] allowed_hosts: (glob, port or None = any)

    @classmethod
    def of(cls, host: str, port: int, allowed_hosts: list[str]) -> HostRule:
        allowed = tuple(p for p in (split_host(e) or (e, None) for e in allowed_hosts))
        host = host.strip("[]").lower()
        return cls(port, LOOPBACK_NAMES | {host} - WILDCARD, host in WILDCARD, allowed)

    def allows(self, header: str | None) -> bool:
        if header is None:
            return True
        parsed = split_host(header)
        if parsed is None:
            return False
        name, port = parsed
        if any(fnmatchcase(name, glob) and (want is None or want == port) for glob, want in self.allowed):
            return True
        if port not in (None, self.port):
            return False
        return name in self.names or (self.any_ip and _is_ip(name))


class HostCheck:
    """ASGI middleware: 400 for a request whose Host header `rule` does not allow."""

    def __init__(self, app: ASGIApp, rule: HostRule):
        self.app, self.rule = app, rule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hosts = [v.decode("latin-1") for k, v in scope["headers"] if k == b"host"]
            if len(hosts) > 1:
                return await _refuse("one Host header, not several", scope, receive, send)
            if not self.rule.allows(hosts[0] if hosts else None):
                return await _refuse(f"Host {ascii(hosts[0][:100])} is not this server's address; to reach "
                                     "AiSpendTrack serve under that name, add it to [serve] allowed_hosts",
                                     scope, receive, send)
        await self.app(scope, receive, send)


async def _refuse(message: str, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"error": {"type": "invalid_host", "message": message}}, status_code=400)
    await response(scope, receive, send)
