"""The ledger table: one row per provider-bound flow. Documented in README ("Ledger schema").

Kept apart from the writer so the CLI, reports and tests share one definition, with
`to_db_row`, which turns a row of Python values into what the table stores.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from aispendtrack.store import db as dbmod

CALLS_COLUMNS: dict[str, type] = {
    "id": int,
    "ts": str,  # ISO 8601 UTC, request start
    "flow_id": str,
    "key_id": str,
    "key_hint": str,
    "account": str,
    "provider": str,
    "api": str,
    "model": str,  # served model, else the requested one
    "request_model": str,
    "method": str,
    "path": str,  # never the query string: Gemini puts API keys there
    "status": int,  # HTTP status sent to the client
    "outcome": str,
    "streamed": int,
    "partial": int,
    "input_tokens": int,  # total input, cache reads and writes included
    "output_tokens": int,  # reasoning included
    "cache_read_tokens": int,
    "cache_write_tokens": int,
    "reasoning_tokens": int,
    "usage_json": str,
    "cost_usd": str,  # decimal text; NULL unless priced
    "pricing": str,  # priced | unpriced | unmetered | local
    "cost_source": str,  # genai-prices | provider | override
    "latency_ms": float,
    "ttfb_ms": float,
    "error": str,
    "reservation_id": str,  # the budget reservation this row settles (store/budgets.py)
    "tags": str,  # the client's tags: a JSON object of names to values (auth/tags.py)
    # Batch results (api "batch"): the batch they belong to (`<provider>:<id>`, one row per
    # batch and model: a unique index, see `ledger_rows`) and how many requests the row sums.
    "batch_key": str,
    "batch_requests": int,
}



class Outcome(StrEnum):
    """What happened to a provider-bound call: the ledger's `outcome` column, as stored."""

    FORWARDED = "forwarded"
    REJECTED = "rejected"  # 401 (or 503 when limits could not be checked)
    RATE_LIMITED = "rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    FORBIDDEN = "forbidden"  # 403: the key lacks `calls`, or the model is outside its list
    BUDGET_EXCEEDED = "budget_exceeded"  # 429 (403 for an unpriced model under a budget)
    UPSTREAM_ERROR = "upstream_error"
    ABORTED = "aborted"


# Calls that reached the provider: metered, and counted against limits.
UPSTREAM = frozenset({Outcome.FORWARDED, Outcome.UPSTREAM_ERROR, Outcome.ABORTED})
# Calls we answered ourselves.
REFUSED = frozenset(Outcome) - UPSTREAM


def sql_in(outcomes) -> str:
    """`('a', 'b')`, for `outcome IN …` in a query (the values are our own constants)."""
    return "(" + ", ".join(f"'{o.value}'" for o in sorted(outcomes)) + ")"

PRICING = ("priced", "unpriced", "unmetered", "local")

# Indexes match the report/export queries: time ranges, optionally per key/account/model.
INDEXES = [
    ["ts"],
    ["key_id", "ts"],
    ["account", "ts"],
    ["model", "ts"],
]


# -- rows: Python values → what SQLite stores ------------------------------------------


def _format_decimal(value: Any) -> str:
    """Exact decimal text, never scientific notation (`Decimal("1.2E-7")` → "0.00000012")."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cost_usd is not finite: {value!r}")
        value = Decimal(repr(value))
    elif not isinstance(value, Decimal):
        try:
            value = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"cost_usd is not a decimal number: {value!r}") from None
    if not value.is_finite():
        raise ValueError(f"cost_usd is not finite: {value!r}")
    return format(value, "f")


def _format_ts(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dbmod.iso(value)
    if isinstance(value, str):
        value = dbmod.parse_iso(value)  # ValueError on garbage
        if value.tzinfo is None:
            raise ValueError(f"ts has no time zone: {value.isoformat()!r}")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"ts has no time zone: {value.isoformat()!r}")
        return dbmod.iso(value)
    raise TypeError(f"ts must be a datetime, ISO 8601 text or epoch seconds, not {value!r}")


def to_db_row(row: dict[str, Any]) -> dict[str, Any]:
    """Validate a `calls` row and convert Python values to what SQLite stores.

    Decimal → decimal text, dict/list `usage_json` → JSON text, bools → 0/1, datetime
    `ts` → ISO 8601 UTC with `Z`. Raises ValueError/TypeError for unknown keys or values.
    """
    if not isinstance(row, dict):
        raise TypeError(f"ledger row must be a dict, not {type(row).__name__}")
    if not _COLUMN_SET.issuperset(row):
        unknown = sorted(str(k) for k in row if k not in _COLUMN_SET)
        raise ValueError(f"unknown ledger column(s): {', '.join(unknown)}")
    out: dict[str, Any] = {}
    too_big, unfit = [], []
    for key, value in row.items():
        if value is not None:
            convert = _CONVERT.get(key)
            if convert is not None:
                value = convert(value)
            else:
                if value.__class__ is bool:
                    value = int(value)
                elif isinstance(value, Decimal):
                    value = format(value, "f")
                kind = CALLS_COLUMNS[key]
                if kind is not str and (value := _as_number(kind, value)) is None:
                    unfit.append(key)  # stored alike on both engines (SQLite kept text, PostgreSQL lost the row)
                elif value.__class__ is int and not _INT_MIN <= value <= _INT_MAX:
                    too_big.append(key)  # SQLite would refuse the whole row
                    value = None
        out[key] = value
    notes = [out.get("error")]
    if unfit:
        notes.append(f"not a {'whole ' if all(CALLS_COLUMNS[k] is int for k in unfit) else ''}number, "
                     f"stored as null: {', '.join(unfit)}")
    if too_big:
        notes.append(f"out of range, stored as null: {', '.join(too_big)}")
    if unfit or too_big:
        out["error"] = "; ".join(filter(None, notes))
    if out.get("ts") is None:
        raise ValueError("ledger row has no ts")
    if out.get("outcome") is None:
        raise ValueError("ledger row has no outcome")
    return out


def _as_number(kind: type, value: Any) -> int | float | None:
    """`value` as an integer (`kind` int: whole numbers only, also as text or 12.0) or a
    finite float column's value; None when it is not one."""
    if isinstance(value, str):
        try:
            value = float(value) if kind is float or not _WHOLE.fullmatch(value.strip()) else int(value)
        except ValueError:
            return None
    if kind is int:
        if value.__class__ is int:
            return value
        return int(value) if isinstance(value, float) and value.is_integer() else None
    if isinstance(value, (int, float)):
        try:
            value = float(value)
        except OverflowError:
            return None
        return value if math.isfinite(value) else None
    return None


def _usage_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=_json_default)


_COLUMN_SET = frozenset(CALLS_COLUMNS)
_WHOLE = re.compile(r"[-+]?[0-9]+")
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
def _tags_text(value: Any) -> str:
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"tags must be an object of names to text values, not {value!r}")
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


_CONVERT = {"ts": _format_ts, "cost_usd": _format_decimal, "usage_json": _usage_text, "tags": _tags_text}


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"usage_json: {type(value).__name__} is not JSON serialisable")
