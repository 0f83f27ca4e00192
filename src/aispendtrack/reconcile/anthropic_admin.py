"""Anthropic's Usage and Cost admin API read into a `Bill`.

GET /v1/organizations/usage_report/messages (tokens by day, model, workspace, API key and
service tier; `batch` is the Batch API's tier) and GET /v1/organizations/cost_report (amounts
in cents as decimal strings, by day, workspace and description: model, token type, tier).
`starting_at`/`ending_at` in RFC 3339, `bucket_width=1d`, `group_by[]=…`, pages followed by
`has_more`/`next_page` → `page`. Auth: `x-api-key: sk-ant-admin-…`, `anthropic-version`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from aispendtrack.reconcile.bill import Bill, CostLine, UsageLine, count, period
from aispendtrack.reconcile.http import AdminClient, ReconcileError
from aispendtrack.reconcile.model import Side

USAGE = "/v1/organizations/usage_report/messages"
COSTS = "/v1/organizations/cost_report"
VERSION = "2023-06-01"
_KIND = {"uncached_input_tokens": "input", "cache_creation.ephemeral_5m_input_tokens": "input",
         "cache_creation.ephemeral_1h_input_tokens": "input", "cache_read_input_tokens": "cached",
         "output_tokens": "output"}
_CENTS = Decimal(100)


def client(base_url: str, key: str, key_source: str = "") -> AdminClient:
    return AdminClient("Anthropic", base_url, {"x-api-key": key, "anthropic-version": VERSION}, key, key_source)


def fetch(api: AdminClient, since: date, until: date) -> Bill:
    start, end = (t.isoformat().replace("+00:00", "Z") for t in period(since, until))
    base = [("starting_at", start), ("ending_at", end), ("bucket_width", "1d"), ("limit", "31")]
    bill = Bill()
    groups = [("group_by[]", g) for g in ("model", "workspace_id", "api_key_id", "service_tier")]
    for page in api.pages(USAGE, base + groups):
        for day, r in _results(page, USAGE):
            cache = r.get("cache_creation") or {}
            written = count(cache.get("ephemeral_5m_input_tokens")) + count(cache.get("ephemeral_1h_input_tokens"))
            side = Side(input_tokens=count(r.get("uncached_input_tokens")) + written,
                        cached_tokens=count(r.get("cache_read_input_tokens")),
                        output_tokens=count(r.get("output_tokens")))
            if r.get("service_tier") == "batch":
                side = replace(side, batch_tokens=side.tokens)
            bill.usage.append(UsageLine(day, str(r.get("model") or ""), r.get("workspace_id"), r.get("api_key_id"),
                                        side))
    for page in api.pages(COSTS, base + [("group_by[]", "workspace_id"), ("group_by[]", "description")]):
        for day, r in _results(page, COSTS):
            if str(r.get("currency") or "USD").upper() != "USD":
                raise ReconcileError(f"Anthropic costs in {r.get('currency')!r}: only USD can be compared")
            kind = _KIND.get(str(r.get("token_type") or ""), "") if r.get("cost_type") in (None, "tokens") else ""
            bill.costs.append(CostLine(day, str(r.get("model") or "") if kind else "", r.get("workspace_id"), kind,
                                       _dollars(r.get("amount")), str(r.get("description") or "")))
    return bill


def _results(page: dict, path: str):
    for bucket in page["data"]:
        try:
            day = datetime.fromisoformat(str(bucket["starting_at"]).replace("Z", "+00:00")).date()
        except (KeyError, ValueError):
            raise ReconcileError(f"the Anthropic admin API answered {path} with a bucket without starting_at") from None
        for r in bucket.get("results") or []:
            if isinstance(r, dict):
                yield day, r


def _dollars(amount: object) -> Decimal:
    """The cost report's amount: cents as a decimal string ("123.45" is $1.23)."""
    try:
        return Decimal(str(amount)) / _CENTS if amount is not None else Decimal(0)
    except InvalidOperation:
        raise ReconcileError(f"Anthropic cost amount {amount!r} is not a number") from None
