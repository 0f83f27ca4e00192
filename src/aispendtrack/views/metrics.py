"""`GET /metrics`: one account's totals in the Prometheus text format (`prometheus_client`).

Counters are the ledger's all-time sums for the account, read from the daily sums like
`report` (so they equal `report --json --account A` without dates, and only grow); gauges
are where its budgets and its webhook outbox stand now, and the latency percentiles of the
current UTC day per model (`views.latency`'s nearest rank: equal to `report --since TODAY
--json`'s and `/v1/usage?period=today`'s). Every name is under `aispendtrack_`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from aispendtrack.config import Config
from aispendtrack.views.budgets import budget_entries
from aispendtrack.views.latency import PERCENTILES, latency_groups

OUTCOMES = ("forwarded", "errors", "rejected", "rate_limited", "quota_exceeded", "budget_exceeded", "forbidden")
REFUSALS = ("rejected", "rate_limited", "quota_exceeded", "budget_exceeded", "forbidden")
TOKENS = {"input": "input_tokens", "output": "output_tokens", "cache_read": "cache_read_tokens",
          "cache_write": "cache_write_tokens", "reasoning": "reasoning_tokens"}


class AccountMetrics:
    """A `prometheus_client` collector of one account's metrics, read at each scrape."""

    def __init__(self, store, config: Config, account: str, now: float | None = None):
        self.store, self.config, self.account, self.now = store, config, account, now

    def collect(self) -> Iterator[Metric]:
        now = time.time() if self.now is None else self.now
        a = self.account
        calls = CounterMetricFamily("aispendtrack_calls", "Provider-bound calls by model and outcome (errors: "
                                    "upstream errors and aborted calls)", labels=["account", "model", "outcome"])
        tokens = CounterMetricFamily("aispendtrack_tokens", "Tokens by model and kind (input includes cache reads "
                                     "and writes, output includes reasoning)", labels=["account", "model", "kind"])
        cost = CounterMetricFamily("aispendtrack_cost_usd", "Cost of the priced calls in USD, by model",
                                   labels=["account", "model"])
        refused = CounterMetricFamily("aispendtrack_refusals", "Calls the gateway answered itself, by reason",
                                      labels=["account", "reason"])
        totals = dict.fromkeys(REFUSALS, 0)
        for g in self.store.report_groups(by="model", account=a, per_day=False):
            model, st = "" if g.group is None else str(g.group), g.stats
            for outcome in OUTCOMES:
                calls.add_metric([a, model, outcome], getattr(st, outcome))
                if outcome in totals:
                    totals[outcome] += getattr(st, outcome)
            for kind, field in TOKENS.items():
                if (n := getattr(st, field)) is not None:
                    tokens.add_metric([a, model, kind], n)
            cost.add_metric([a, model], float(st.cost_usd))
        for reason, n in totals.items():
            refused.add_metric([a, reason], n)
        yield from (calls, tokens, cost, refused)
        remaining = GaugeMetricFamily("aispendtrack_budget_remaining_usd", "What a budget still allows in its "
                                      "current period, in USD", labels=["account", "scope", "subject", "period"])
        limit = GaugeMetricFamily("aispendtrack_budget_limit_usd", "A budget's limit per period, in USD",
                                  labels=["account", "scope", "subject", "period"])
        for e in budget_entries(self.store, self.config, now=now, account=a):
            labels = [a, e["scope"], e["subject"], e["period"]]
            remaining.add_metric(labels, float(e["remaining_usd"]))
            limit.add_metric(labels, float(e["limit_usd"]))
        yield from (remaining, limit)
        depth = GaugeMetricFamily("aispendtrack_webhook_outbox_pending", "Webhook messages not delivered yet",
                                  labels=["account"])
        depth.add_metric([a], self.store.outbox_depth(a))
        yield depth
        yield self._latency(now)

    def _latency(self, now: float) -> Metric:
        """Today's percentiles (a day of rows: bounded work per scrape, unlike all time)."""
        day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        family = GaugeMetricFamily("aispendtrack_latency_today_seconds", "Nearest-rank percentiles of the answered "
                                   "calls' duration (total, or to the first byte of streams) since 00:00 UTC",
                                   labels=["account", "model", "measure", "quantile"])
        groups, _ = latency_groups(self.store, by="model", since=day, account=self.account)
        for model, lat in sorted(groups.items(), key=lambda kv: str(kv[0] or "")):
            for measure, values in (("total", (lat.p50_ms, lat.p95_ms)), ("ttfb", (lat.ttfb_p50_ms, lat.ttfb_p95_ms))):
                for p, ms in zip(PERCENTILES, values):
                    if ms is not None:
                        family.add_metric([self.account, "" if model is None else str(model), measure,
                                           f"{p / 100:g}"], ms / 1000)
        return family
