"""Anthropic's Usage and Cost admin API on the fake provider, answered from the calls it billed
(`billing.py`): GET /v1/organizations/usage_report/messages and /v1/organizations/cost_report,
in the documented shapes (daily buckets, `group_by[]`, `limit`, `has_more`/`next_page` →
`page`, amounts in cents as decimal strings, `x-api-key: sk-ant-admin…`, `anthropic-version`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aispendtrack.demo.fake.billing import Billing, Served, check_admin_key, day_buckets, group_sums, query
from aispendtrack.demo.fake.wire_core import Reply, error_body, json_reply

USAGE, COSTS = "/v1/organizations/usage_report/messages", "/v1/organizations/cost_report"
PATHS = (USAGE, COSTS)
GROUPS = {USAGE: ("api_key_id", "workspace_id", "model", "service_tier", "context_window"),
          COSTS: ("workspace_id", "description")}
TOKEN_TYPE = {"input": "uncached_input_tokens", "cache_write": "cache_creation.ephemeral_5m_input_tokens",
              "cache_read": "cache_read_input_tokens", "output": "output_tokens"}
LABEL = {"input": "Input Tokens", "cache_write": "Cache Write Tokens (5m)", "cache_read": "Cache Read Tokens",
         "output": "Output Tokens"}


def _error(status: int, message: str) -> Reply:
    return json_reply(error_body("anthropic", status, message), status)


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _when(value: str) -> datetime:
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def answer(billing: Billing, path: str, target: str, headers: dict[str, str]) -> Reply:
    refused = check_admin_key(billing, headers.get("x-api-key"), "sk-ant-admin")
    if refused == 401:
        return _error(401, "invalid x-api-key")
    if refused == 403:
        return _error(403, "This endpoint requires an Admin API key (sk-ant-admin...).")
    if "anthropic-version" not in headers:
        return _error(400, "anthropic-version: header is required")
    q = query(target)
    try:
        start = _when(q["starting_at"][0])
        end = _when(q["ending_at"][0]) if "ending_at" in q else datetime.now(UTC)
        if q.get("bucket_width", ["1d"])[0] != "1d":
            raise ValueError("the fake provider only serves bucket_width=1d")
        group_by = q.get("group_by", [])
        if bad := [g for g in group_by if g not in GROUPS[path]]:
            raise ValueError(f"group_by: invalid value {bad[0]!r}")
        limit = int(q.get("limit", ["7"])[0])
        if not 1 <= limit <= 31:
            raise ValueError("limit: must be between 1 and 31 for bucket_width 1d")
        days, next_page = day_buckets(start, end, limit, q.get("page", [None])[0])
    except KeyError:
        return _error(400, "starting_at: Field required")
    except ValueError as e:
        return _error(400, str(e))
    calls = [c for c in billing.snapshot() if c.provider == "anthropic"]
    data = []
    for day in days:
        on = [c for c in calls if c.day == day.date().isoformat()]
        data.append({"starting_at": _rfc3339(day), "ending_at": _rfc3339(day + timedelta(days=1)),
                     "results": _costs(on, group_by) if path == COSTS else _usage(on, group_by)})
    if billing.cut_off:
        return json_reply({"data": data, "has_more": True, "next_page": None})
    return json_reply({"data": data, "has_more": next_page is not None, "next_page": next_page})


def _dims(c: Served) -> dict:
    return {"api_key_id": c.api_key_id, "workspace_id": c.workspace, "model": c.model,
            "service_tier": "batch" if c.batch else "standard", "context_window": "0-200k"}


def _usage(calls: list[Served], group_by: list[str]) -> list[dict]:
    def sums(c: Served) -> dict:
        return {"uncached_input_tokens": c.input - c.cache_read - c.cache_write, "cache_write_5m": c.cache_write,
                "cache_read_input_tokens": c.cache_read, "output_tokens": c.output}

    out = []
    for key, t in group_sums(calls, lambda c: tuple((g, _dims(c)[g]) for g in group_by), sums):
        r = {"uncached_input_tokens": t["uncached_input_tokens"],
             "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": t["cache_write_5m"]},
             "cache_read_input_tokens": t["cache_read_input_tokens"], "output_tokens": t["output_tokens"],
             "server_tool_use": {"web_search_requests": 0}, "api_key_id": None, "workspace_id": None,
             "model": None, "service_tier": None, "context_window": None}
        out.append({**r, **dict(key)})
    return out


def _costs(calls: list[Served], group_by: list[str]) -> list[dict]:
    lines = [(c, kind, usd) for c in calls for kind, usd in c.costs().items() if usd]

    def keys(item) -> tuple:
        c, kind, _ = item
        described = ("description", f"{c.model} Usage - {LABEL[kind]}") if "description" in group_by else None
        detail = (("model", c.model), ("token_type", TOKEN_TYPE[kind]), ("cost_type", "tokens"),
                  ("service_tier", "batch" if c.batch else "standard"), ("context_window", "0-200k"))
        return (*((("workspace_id", c.workspace),) if "workspace_id" in group_by else ()),
                *((described, *detail) if described else ()))

    out = []
    for key, total in group_sums(lines, keys, lambda item: {"usd": item[2]}):
        cents = format((total["usd"] * 100).normalize(), "f")
        r = {"currency": "USD", "amount": cents, "workspace_id": None, "description": None, "cost_type": None,
             "context_window": None, "model": None, "service_tier": None, "token_type": None}
        out.append({**r, **dict(key)})
    return out
