"""What the reads return: plain typed rows (see `store.records` for the key store's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from aispendtrack.store.totals import Stats

# The ledger's columns in the order `export` writes them: the first block is the contract
# for spreadsheets and scripts, the rest follow, `usage_json` (provider detail) last.
EXPORT_FIELDS = (
    "ts", "key_id", "account", "provider", "api", "model", "status", "outcome", "streamed",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "cost_usd", "pricing", "latency_ms", "tags",
    "id", "flow_id", "key_hint", "request_model", "partial", "cost_source", "ttfb_ms",
    "error", "path", "method", "batch_key", "batch_requests", "usage_json",
)  # fmt: skip

# One ledger row as stored (cost as decimal text, booleans as 0/1, usage as JSON text).
ExportRow = NamedTuple("ExportRow", [(name, Any) for name in EXPORT_FIELDS])


class GroupDay(NamedTuple):
    """The calls of one group on one UTC day. `group` is the dimension's value (None =
    unknown); by member it is `(account, member name)`."""

    group: Any
    day: str  # YYYY-MM-DD
    stats: Stats


@dataclass(frozen=True, slots=True)
class Counted:
    """A usage window's count and when it next goes down (epoch; None: nothing counted or
    a calendar month's end is the view's to say). `source`: "limits" (the limiter's
    counters) or "ledger" (what was metered)."""

    used: int
    resets_at: float | None
    source: str


@dataclass(frozen=True, slots=True)
class CallRow:
    """One of the latest calls, as `top` and the dashboard list them."""

    ts: str
    key_id: str | None
    key_hint: str | None
    model: str | None
    status: int | None
    outcome: str
    streamed: int | None
    input_tokens: int | None
    cache_read_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: str | None
    pricing: str | None


CALL_FIELDS = tuple(CallRow.__dataclass_fields__)
