"""When a client rejects mitmproxy's certificate, say how to make it trust the proxy."""

from __future__ import annotations

import logging

from mitmproxy import tls

log = logging.getLogger(__name__)

HINT = (
    "AiSpendTrack: a client rejected the proxy's certificate for %s. Give it a CA bundle "
    "with mitmproxy's CA and the system's: run `aispendtrack ca-bundle`, then "
    "export SSL_CERT_FILE (Python, curl) / REQUESTS_CA_BUNDLE (requests) with the path it prints, "
    "or NODE_EXTRA_CA_CERTS for Node (README: Regular mode)."
)


class TlsHint:
    """Adds the fix to mitmproxy's "client does not trust the proxy's certificate" line."""

    def tls_failed_client(self, data: tls.TlsData) -> None:
        error = data.conn.error or ""
        if "connection closed early" in error or "Cannot parse ClientHello" in error:
            return
        log.warning(HINT, data.conn.sni or "an intercepted host")
