"""`Content-Disposition: attachment` for a download named after user data (an account name).

RFC 6266: `filename*=UTF-8''…` carries the exact name, percent-encoded (RFC 8187); the
plain `filename="…"` before it is an ASCII fallback for old clients. Neither can break the
header: quotes, `;`, `\\`, control and non-ASCII characters never reach it raw.
"""

from __future__ import annotations

import re
from urllib.parse import quote

# Anything but printable ASCII, and the characters that end or escape a quoted string or
# a parameter; path separators too, so no client takes the name for a path.
_UNSAFE_ASCII = re.compile(r'[^\x20-\x7e]|["\\;/]')


def content_disposition(filename: str) -> str:
    """The header value that downloads as `filename`, whatever characters it holds."""
    fallback = _UNSAFE_ASCII.sub("_", filename).strip() or "download"
    # attr-char of RFC 8187: ALPHA / DIGIT / "!#$&+-.^_`|~"; everything else percent-encoded
    encoded = quote(filename, safe="!#$&+-.^_`|~", encoding="utf-8")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
