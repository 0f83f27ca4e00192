"""Test-only mitmproxy script: send flows bound for provider hosts to the local fake.

Loaded after the AiSpendTrack addon, so the addon still sees the real provider host.
"""

import os

from mitmproxy import http

TARGET = os.environ["AISPENDTRACK_TEST_UPSTREAM"]  # "127.0.0.1:PORT"


def request(flow: http.HTTPFlow) -> None:
    host, port = TARGET.rsplit(":", 1)
    flow.request.scheme = "http"
    flow.request.host = host
    flow.request.port = int(port)
