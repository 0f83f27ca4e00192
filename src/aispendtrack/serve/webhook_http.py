"""One webhook POST to exactly the addresses that were checked.

The host is resolved and judged once per attempt (`webhook_targets.addresses`); the TCP
connection goes to one of those addresses, never to a second lookup's answer, while the
request keeps the URL's host in its `Host` header and TLS verifies the certificate
against it (SNI included). A redirect is an answer like any other (a failed attempt),
not a new destination, and no proxy from the environment is used (`HTTPS_PROXY` often
points at the AiSpendTrack proxy itself).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from urllib.parse import urlsplit

from aispendtrack.serve import webhook_targets as targets

TIMEOUT_SECONDS = 15.0
MAX_ERROR = 200


class Sender:
    """`send(url, headers, payload) -> (HTTP status, None) or (None, short reason)`; never raises."""

    def __init__(self, policy: targets.Policy, *, resolver: targets.Resolver = targets.resolve,
                 tls: ssl.SSLContext | None = None, timeout: float = TIMEOUT_SECONDS):
        self.policy = policy
        self.resolver = resolver
        self.tls = tls or ssl.create_default_context()
        self.timeout = timeout

    def __call__(self, url: str, headers: dict[str, str], payload: str) -> tuple[int | None, str | None]:
        try:
            parts = urlsplit(url)
            https = parts.scheme == "https"
            port = parts.port or (443 if https else 80)
            checked = targets.addresses(parts.hostname, port, self.policy, self.resolver)
            sock = self._connect(checked, port)
        except targets.Refused as e:
            return None, str(e)
        except Exception as e:
            return None, short_error(e, self.timeout)
        try:
            if https:
                sock = self.tls.wrap_socket(sock, server_hostname=parts.hostname)
            conn = (http.client.HTTPSConnection if https else http.client.HTTPConnection)(
                parts.hostname, port, timeout=self.timeout)
            conn.sock = sock  # already connected: http.client sends on it, Host header from the URL
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("POST", target, body=payload.encode(), headers=headers)
            with conn.getresponse() as resp:
                resp.read(65536)
                return resp.status, None
        except Exception as e:
            return None, short_error(e, self.timeout)
        finally:
            sock.close()

    def _connect(self, addresses: list[str], port: int) -> socket.socket:
        error: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, port), timeout=self.timeout)
            except OSError as e:
                error = e
        raise error or OSError("no address to connect to")


def short_error(e: Exception, timeout: float) -> str:
    """What went wrong, in a few words for the deliveries list."""
    if isinstance(e, ssl.SSLCertVerificationError):
        text = f"TLS certificate not accepted: {e.verify_message or e.reason}"
    elif isinstance(e, ssl.SSLError):
        text = f"TLS failed: {e.reason or e}"
    elif isinstance(e, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(e, (TimeoutError, socket.timeout)):
        text = f"no answer within {timeout:g} s"
    elif isinstance(e, ConnectionResetError):
        text = "connection reset by the receiver"
    elif isinstance(e, http.client.HTTPException):
        text = f"not an HTTP answer ({type(e).__name__})"
    elif isinstance(e, OSError) and e.strerror:
        text = e.strerror
    else:
        text = f"{type(e).__name__}: {e}"
    return text[:MAX_ERROR]
