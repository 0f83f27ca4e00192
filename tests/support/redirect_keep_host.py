"""Test-only mitmproxy script: send flows to the local fake, keeping every header as sent.

Like `redirect_upstream.py`, but the target is changed beneath mitmproxy's `host`/`port`
setters, which would rewrite the Host header too: a SigV4 signature (Bedrock) covers Host, so the
fake must see the request exactly as AWS would. `AISPENDTRACK_TEST_UPSTREAM` is "127.0.0.1:PORT".
"""

import os

from mitmproxy import http

HOST, _, PORT = os.environ["AISPENDTRACK_TEST_UPSTREAM"].rpartition(":")


def request(flow: http.HTTPFlow) -> None:
    # the request's data, not its setters: `.host =` / `.port =` also rewrite the Host header
    flow.request.data.scheme = b"http"
    flow.request.data.host = HOST
    flow.request.data.port = int(PORT)
