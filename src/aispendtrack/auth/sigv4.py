"""AWS Signature Version 4 and the gateway's own headers.

A SigV4-signed request (Amazon Bedrock) names the headers its signature covers in the
`Authorization` header's `SignedHeaders=` (or a presigned URL's `X-Amz-SignedHeaders`).
The gateway removes its own headers (`x-aispendtrack-key`, `x-aispendtrack-tags`,
`x-aispendtrack-tag-<name>`) before forwarding and changes nothing else, so a signature
over any of them could never verify at AWS: such a request is refused with a 400 naming
the header, rather than forwarded to fail there with an opaque signature error.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

OURS = "x-aispendtrack-"
_SIGNED = re.compile(r"SignedHeaders=([^,\s]*)", re.IGNORECASE)


def signed_headers(authorization: str, query: str = "") -> list[str]:
    """The header names a SigV4 signature covers (lower case); [] when it is not SigV4."""
    names: list[str] = []
    if authorization.strip().upper().startswith("AWS4-"):
        for found in _SIGNED.findall(authorization):
            names += found.split(";")
    if "x-amz-signedheaders" in query.lower():
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name.lower() == "x-amz-signedheaders":
                names += value.split(";")
    return [n.strip().lower() for n in names if n.strip()]


def gateway_headers_signed(authorization: list[str], query: str = "") -> list[str]:
    """The gateway's own headers that a request's SigV4 signature covers."""
    names = [n for value in authorization or [""] for n in signed_headers(value, query)]
    return sorted({n for n in names if n.startswith(OURS)})
