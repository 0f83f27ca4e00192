"""Where a webhook may be sent: addresses on the public internet only, unless the operator opts in.

A host is judged by every address it stands for: an IP literal in any form the system
resolver accepts (`127.1`, `2130706433`, `0x7f.0.0.1`, `[::ffff:127.0.0.1]`), or every
address its name resolves to. One address outside the public internet refuses the host,
so a name cannot mix a public address with a private one. Registration (CLI and API)
and every delivery run the same rule; a delivery then connects only to the addresses
it checked (`webhook_http`), so a DNS answer that changes in between is never followed.

`[webhooks] allow_private_networks = true` lets loopback, private, link-local, shared
(CGNAT), unspecified, multicast and reserved addresses through (local development);
cloud metadata addresses stay refused. A host named exactly (no glob) in
`[webhooks] allow_hosts` skips the rule altogether: the operator vouched for it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aispendtrack.store.webhook_endpoints import WebhookError

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

# Instance metadata services of the clouds: credentials one request away.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, Oracle, DigitalOcean, Hetzner, OpenStack
    "169.254.170.2",  # AWS ECS task metadata
    "169.254.170.23", "fd00:ec2::23",  # AWS EKS pod identity
    "fd00:ec2::254",  # AWS IMDS over IPv6
    "100.100.100.200",  # Alibaba Cloud
    "168.63.129.16",  # Azure wire server (a public address reachable only from inside Azure)
    "192.0.0.192",  # Oracle Cloud (classic)
))
METADATA_NAMES = frozenset({
    "metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.internal", "metadata.tencentyun.com",
})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_ULA = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# The dotted and bare numeric forms inet_aton accepts (octal, hex, 1 to 4 parts).
_NUMERIC = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)
OPT_IN = "[webhooks] allow_private_networks = true"


class Refused(WebhookError):
    """The host is, or resolves to, an address webhooks may not reach (message: the short reason)."""


class Unresolvable(Refused):
    """The host name has no address."""


@dataclass(frozen=True)
class Policy:
    allow_private_networks: bool = False
    exempt_hosts: frozenset[str] = field(default_factory=frozenset)  # normalised exact hosts

    @classmethod
    def of(cls, webhooks) -> Policy:
        """From `Config.webhooks`: exact `allow_hosts` entries are exempt; glob entries only restrict."""
        exact = {_normal(h) for h in webhooks.allow_hosts if not is_glob(h)}
        return cls(webhooks.allow_private_networks, frozenset(exact))

    def exempt(self, host: str) -> bool:
        return _normal(host) in self.exempt_hosts


def literal(host: str) -> IP | None:
    """The address an IP literal stands for, in any form the resolver accepts; None for a name.
    Raises Refused for a numeric host no resolver would read the same way."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise Refused(f"{host} is not a valid IP address") from None
    return None


def why_not(address: IP) -> tuple[str, str] | None:
    """(kind, what it is) for an address webhooks may not reach, else None. Kind is
    `metadata` (refused even with the opt-in) or `private`."""
    inner = _embedded_ipv4(address) or address
    if address in METADATA_ADDRESSES or inner in METADATA_ADDRESSES:
        return "metadata", "a cloud metadata address"
    for test, what in (
        (lambda a: a.is_unspecified, "unspecified"),
        (lambda a: a.is_loopback, "loopback"),
        (lambda a: a.is_link_local, "link-local"),
        (lambda a: a.is_multicast, "multicast"),
        (lambda a: a.version == 4 and a in _CGNAT, "shared address space (CGNAT)"),
        (lambda a: any(a in n for n in _RFC1918) or (a.version == 6 and a in _ULA), "private"),
        (lambda a: a.version == 6 and a.is_site_local, "site-local"),
        (lambda a: not a.is_global or a.is_reserved, "reserved (not on the public internet)"),
    ):
        if test(inner):
            return "private", what
    return None


def refusal(address: IP, policy: Policy) -> str | None:
    """'address 10.0.0.1 is private', or None when the policy lets `address` through."""
    verdict = why_not(address)
    if verdict is None or (verdict[0] == "private" and policy.allow_private_networks):
        return None
    return f"address {show(address)} is {verdict[1]}"


def resolve(host: str, port: int) -> list[str]:
    """Every address of `host` (system resolver), in the order to try them."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise Unresolvable(f"cannot resolve {host}: {getattr(e, 'strerror', None) or e}") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def addresses(host: str, port: int, policy: Policy, resolver: Resolver = resolve) -> list[str]:
    """The checked addresses to connect to for `host`; raises Refused with the short reason."""
    host = host.strip("[]")
    found = literal(host)
    if policy.exempt(host):
        return [str(found)] if found is not None else resolver(host, port)
    if found is not None:
        if (why := refusal(found, policy)) is not None:
            raise Refused(why)
        return [str(found)]
    name = host.rstrip(".").lower()
    if name in METADATA_NAMES:
        raise Refused(f"{name} is a cloud metadata host")
    if (name == "localhost" or name.endswith(".localhost")) and not policy.allow_private_networks:
        raise Refused(f"{name} is loopback")
    resolved = resolver(host, port)
    if not resolved:
        raise Unresolvable(f"cannot resolve {host}")
    for text in resolved:
        if (why := refusal(ipaddress.ip_address(text), policy)) is not None:
            raise Refused(f"{name}: {why}")
    return resolved


def check_registration(url: str, policy: Policy, resolver: Resolver = resolve) -> str:
    """`url` (already through `outbox.check_url`) if its host may receive webhooks; else
    WebhookError with the reason and the way to opt in."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookError("webhook URL has an invalid port") from None
    try:
        addresses(parts.hostname, port, policy, resolver)
    except Unresolvable as e:
        raise WebhookError(f"webhook URL refused: {e}; give a host name that resolves, or an IP address") from None
    except Refused as e:
        raise WebhookError(f"webhook URL refused: {e}. Webhooks reach only the public internet; "
                           f"for local development set {OPT_IN} (or name the host in [webhooks] allow_hosts)") from None
    return url


def _embedded_ipv4(address: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4, NAT64 or IPv4-compatible IPv6 address."""
    if address.version == 4:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (int(address) >> 32 == 0 and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_glob(entry: str) -> bool:
    """An `allow_hosts` entry with glob characters (`[::1]` is an IPv6 address, not a glob)."""
    entry = entry.strip()
    if entry.startswith("[") and entry.endswith("]") and ":" in entry:
        entry = entry[1:-1]
    return any(c in entry for c in "*?[")


def show(address: IP) -> str:
    """An address as people write it (`::ffff:127.0.0.1`, not `::ffff:7f00:1`)."""
    if address.version == 6 and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def _normal(host: str) -> str:
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        return str(literal(host) or host)
    except Refused:
        return host

