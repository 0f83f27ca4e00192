"""Request limits: hourly sliding log per key id, calendar-month quota per account.

`check_and_count` is blocking SQLite I/O: call it off the event loop. Public API below;
semantics are documented in `window` (boundaries), `store` (atomicity, schema) and
`headers` (header names).
"""

from aispendtrack.limits.headers import rejection_headers, rejection_message, status_headers
from aispendtrack.limits.store import (
    Decision,
    Usage,
    check_and_count,
    ensure_schema,
    reset_account,
    reset_key,
    usage,
)
from aispendtrack.limits.tiers import TIER_DEFAULTS, Limits, resolve_limits
from aispendtrack.limits.window import month_key, next_month_start

__all__ = [
    "TIER_DEFAULTS",
    "Decision",
    "Limits",
    "Usage",
    "check_and_count",
    "ensure_schema",
    "month_key",
    "next_month_start",
    "rejection_headers",
    "rejection_message",
    "reset_account",
    "reset_key",
    "resolve_limits",
    "status_headers",
    "usage",
]
