"""The fake provider's check of AWS Signature Version 4 (Bedrock requests), as AWS checks it.

Written from AWS's specification with the standard library alone, so a test that signs
with botocore and has the fake verify proves the two agree: the canonical request is
rebuilt from what arrived (method, path as sent, query, the signed headers, the body's
SHA-256) and signed again with the fake's credentials. A request the gateway changed in
any signed part — a header added, removed, reordered into another value, the body — fails.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote, unquote

ACCESS_KEY = "AKIAFAKEAISPENDTRACK"
SECRET_KEY = "fake/secret/key/for/the/aispendtrack/fake/provider"
_AUTH = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _query(query: str) -> str:
    pairs = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_request(method: str, target: str, headers: dict[str, str], signed: list[str], body: bytes) -> str:
    path, _, query = target.partition("?")
    # AWS services other than S3 encode the path (as sent, already percent-encoded) once more
    lines = [method, quote(path or "/", safe="/~"), _query(query)]
    lines += [f"{name}:{' '.join(headers.get(name, '').split())}" for name in signed]
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    return "\n".join([*lines, "", ";".join(signed), payload])


def verify(method: str, target: str, headers: dict[str, str], body: bytes) -> str | None:
    """None when `headers["authorization"]` is a valid signature by the fake's credentials,
    else why not (AWS's own wording where it has one). `headers`: lower-case names."""
    auth = headers.get("authorization", "")
    m = _AUTH.fullmatch(auth.strip())
    if m is None:
        return "Missing Authentication Token" if not auth else "Authorization header is not AWS4-HMAC-SHA256"
    credential, signed_text, signature = m.groups()
    try:
        access_key, date, region, service, terminator = credential.split("/")
    except ValueError:
        return "Credential should be scoped to a valid region, service and terminator"
    if access_key != ACCESS_KEY:
        return "The security token included in the request is invalid."
    signed = signed_text.split(";")
    if "host" not in signed or signed != sorted(signed):
        return "SignedHeaders must include host and be sorted"
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(date):
        return "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP"
    scope = f"{date}/{region}/{service}/{terminator}"
    canonical = canonical_request(method, target, headers, signed, body)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = b"AWS4" + SECRET_KEY.encode()
    for part in (date, region, service, terminator):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return ("The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method.")
    return None
