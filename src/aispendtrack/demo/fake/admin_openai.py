"""OpenAI's Usage and Costs admin API on the fake provider, answered from the calls it billed
(`billing.py`): GET /v1/organization/usage/completions, /usage/embeddings and
/v1/organization/costs, in the documented shapes (daily buckets, `group_by`, `limit`,
`has_more`/`next_page` → `page`, `Authorization: Bearer sk-admin-…`)."""

from __future__ import annotations

from datetime import UTC, datetime

from aispendtrack.demo.fake.billing import Billing, Served, check_admin_key, day_buckets, group_sums, query
from aispendtrack.demo.fake.wire_core import Reply, error_body, json_reply

COMPLETIONS, EMBEDDINGS, COSTS = ("/v1/organization/usage/completions", "/v1/organization/usage/embeddings",
                                  "/v1/organization/costs")
PATHS = (COMPLETIONS, EMBEDDINGS, COSTS)
GROUPS = {COMPLETIONS: ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
          EMBEDDINGS: ("project_id", "user_id", "api_key_id", "model"), COSTS: ("project_id", "line_item")}
LIMITS = {COMPLETIONS: (7, 31), EMBEDDINGS: (7, 31), COSTS: (7, 180)}  # (default, max) buckets of 1d
LINE = {"input": "input", "cache_read": "cached input", "cache_write": "input", "output": "output"}


def _error(status: int, message: str) -> Reply:
    return json_reply(error_body("openai", status, message), status)


def answer(billing: Billing, path: str, target: str, headers: dict[str, str]) -> Reply:
    auth = headers.get("authorization", "")
    refused = check_admin_key(billing, auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None,
                              "sk-admin-")
    if refused == 401:
        return _error(401, "Incorrect API key provided. You can find your API key at "
                           "https://platform.openai.com/account/api-keys.")
    if refused == 403:
        return _error(403, "You have insufficient permissions for this operation: this endpoint requires an "
                           "admin key (sk-admin-...).")
    q = query(target)
    try:
        start = datetime.fromtimestamp(int(q["start_time"][0]), UTC)
        end = datetime.fromtimestamp(int(q["end_time"][0]), UTC) if "end_time" in q else datetime.now(UTC)
        if q.get("bucket_width", ["1d"])[0] != "1d":
            raise ValueError("the fake provider only serves bucket_width=1d")
        group_by = q.get("group_by", [])
        if bad := [g for g in group_by if g not in GROUPS[path]]:
            raise ValueError(f"invalid group_by {bad[0]!r}")
        default, most = LIMITS[path]
        limit = int(q.get("limit", [default])[0])
        if not 1 <= limit <= most:
            raise ValueError(f"limit must be between 1 and {most}")
        days, next_page = day_buckets(start, end, limit, q.get("page", [None])[0])
    except KeyError:
        return _error(400, "Missing required parameter: 'start_time'.")
    except ValueError as e:
        return _error(400, str(e))
    calls = [c for c in billing.snapshot() if c.provider == "openai"
             and (path == COSTS or (c.api == "embeddings") == (path == EMBEDDINGS))]
    data = []
    for day in days:
        on = [c for c in calls if c.day == day.date().isoformat()]
        results = _costs(on, group_by) if path == COSTS else _usage(on, group_by, path)
        data.append({"object": "bucket", "start_time": int(day.timestamp()),
                     "end_time": int(day.timestamp()) + 86_400, "results": results})
    if billing.cut_off:
        return json_reply({"object": "page", "data": data, "has_more": True, "next_page": None})
    return json_reply({"object": "page", "data": data, "has_more": next_page is not None, "next_page": next_page})


def _usage(calls: list[Served], group_by: list[str], path: str) -> list[dict]:
    def keys(c: Served) -> tuple:
        return tuple((g, {"project_id": c.project, "model": c.model, "batch": c.batch}.get(g)) for g in group_by)

    def sums(c: Served) -> dict:
        if path == EMBEDDINGS:
            return {"input_tokens": c.input, "num_model_requests": 1}
        return {"input_tokens": c.input, "output_tokens": c.output, "input_cached_tokens": c.cache_read,
                "input_audio_tokens": 0, "output_audio_tokens": 0, "num_model_requests": 1}

    out = []
    for key, total in group_sums(calls, keys, sums):
        if path == EMBEDDINGS:
            r = {"object": "organization.usage.embeddings.result", **total, "project_id": None, "user_id": None,
                 "api_key_id": None, "model": None}
        else:
            r = {"object": "organization.usage.completions.result", **total, "project_id": None, "user_id": None,
                 "api_key_id": None, "model": None, "batch": None, "service_tier": None}
        out.append({**r, **dict(key)})
    return out


def _costs(calls: list[Served], group_by: list[str]) -> list[dict]:
    lines = [(c, kind, usd) for c in calls for kind, usd in c.costs().items() if usd or kind == "input"]

    def keys(item) -> tuple:
        c, kind, _ = item
        item_name = f"{c.model}, {LINE[kind]}" + (" (batch)" if c.batch else "")
        return tuple((g, {"project_id": c.project, "line_item": item_name}[g]) for g in group_by)

    out = []
    for key, total in group_sums(lines, keys, lambda item: {"usd": item[2]}):
        out.append({"object": "organization.costs.result", "amount": {"value": float(total["usd"]), "currency": "usd"},
                    "line_item": None, "project_id": None, **dict(key)})
    return out
