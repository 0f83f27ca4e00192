"""Test-only mitmproxy script: send flows bound for provider hosts to the local fake.

Loaded after the AiSpendTrack addon, so the addon still sees the real provider host.
`AISPENDTRACK_TEST_UPSTREAM` is "127.0.0.1:PORT" (plain HTTP) or "https://127.0.0.1:PORT".
"""

import os

from mitmproxy import http

SCHEME, _, TARGET = os.environ["AISPENDTRACK_TEST_UPSTREAM"].rpartition("://")


def request(flow: http.HTTPFlow) -> None:
    host, port = TARGET.rsplit(":", 1)
    flow.request.scheme = SCHEME or "http"
    flow.request.host = host
    flow.request.port = int(port)
