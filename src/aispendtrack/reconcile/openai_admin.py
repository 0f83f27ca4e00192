"""OpenAI's Usage and Costs admin API read into a `Bill`.

GET /v1/organization/usage/completions and /usage/embeddings (tokens by day, model, project;
completions also by `batch`), GET /v1/organization/costs (USD by day, line item, project).
Daily buckets (`bucket_width=1d`, `start_time`/`end_time` in Unix seconds), pages followed by
`has_more`/`next_page` → `page`. Auth: `Authorization: Bearer sk-admin-…`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from aispendtrack.reconcile.bill import Bill, CostLine, UsageLine, count, period
from aispendtrack.reconcile.http import AdminClient, ReconcileError
from aispendtrack.reconcile.model import Side

USAGE = {"/v1/organization/usage/completions": ("model", "project_id", "batch"),
         "/v1/organization/usage/embeddings": ("model", "project_id")}
COSTS = "/v1/organization/costs"
_KIND = {"input": "input", "cached input": "cached", "output": "output"}


def client(base_url: str, key: str, key_source: str = "") -> AdminClient:
    return AdminClient("OpenAI", base_url, {"authorization": f"Bearer {key}"}, key, key_source)


def fetch(api: AdminClient, since: date, until: date) -> Bill:
    start, end = period(since, until)
    base = [("start_time", str(int(start.timestamp()))), ("end_time", str(int(end.timestamp()))),
            ("bucket_width", "1d")]
    bill = Bill()
    for path, group_by in USAGE.items():
        # arrays as the official SDK sends them (`group_by[]=model&group_by[]=project_id`)
        params = base + [("group_by[]", g) for g in group_by] + [("limit", "31")]
        for page in api.pages(path, params):
            for day, r in _results(page, path):
                side = Side(input_tokens=count(r.get("input_tokens")) - count(r.get("input_cached_tokens")),
                            cached_tokens=count(r.get("input_cached_tokens")),
                            output_tokens=count(r.get("output_tokens")),
                            requests=count(r.get("num_model_requests")))
                if r.get("batch") is True:
                    side = replace(side, batch_tokens=side.tokens)
                bill.usage.append(UsageLine(day, str(r.get("model") or ""), r.get("project_id"), None, side))
    params = base + [("group_by[]", "line_item"), ("group_by[]", "project_id"), ("limit", "180")]
    for page in api.pages(COSTS, params):
        for day, r in _results(page, COSTS):
            amount = r.get("amount") or {}
            if str(amount.get("currency", "usd")).lower() != "usd":
                raise ReconcileError(f"OpenAI costs in {amount.get('currency')!r}: only USD can be compared")
            item = str(r.get("line_item") or "")
            model, _, kind = item.rpartition(", ")  # "gpt-4o-mini-2024-07-18, cached input"
            kind = _KIND.get(kind.removesuffix(" (batch)"), "")
            bill.costs.append(CostLine(day, model if kind else "", r.get("project_id"), kind,
                                       _usd(amount.get("value")), item))
    return bill


def _results(page: dict, path: str):
    for bucket in page["data"]:
        try:
            day = datetime.fromtimestamp(int(bucket["start_time"]), UTC).date()
        except (KeyError, TypeError, ValueError):
            raise ReconcileError(f"the OpenAI admin API answered {path} with a bucket without start_time") from None
        # the API reference names the list `results`; early versions of it said `result`
        for r in bucket.get("results", bucket.get("result")) or []:
            if isinstance(r, dict):
                yield day, r


def _usd(value: object) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        raise ReconcileError(f"OpenAI cost amount {value!r} is not a number") from None
