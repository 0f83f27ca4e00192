"""`GET /metrics` in process: the calling account's totals in the Prometheus text format,
equal to `report --json`; only an owner's or admin's key with `api` reads it, only its own
account, never with the key in the URL."""

import json
import time
from decimal import Decimal

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from aispendtrack.cli.report import report_command

from support.team import CONFIG

ROWS = [("gpt-4o-mini", "forwarded", 200, "0.0012", 100, 20), ("gpt-4o-mini", "forwarded", 200, "0.0030", 300, 40),
        ("claude-sonnet-4-5", "forwarded", 200, "0.125", 1000, 200), ("gpt-4o", "rate_limited", 429, None, None, None),
        ("gpt-4o", "budget_exceeded", 429, None, None, None), ("my-model", "forbidden", 403, None, None, None),
        ("gpt-4o", "upstream_error", 500, None, None, None)]


@pytest.fixture
def ledger(store, team):
    now = time.time()
    store.record([{"ts": now - i, "key_id": team["owner"].id, "account": "acme", "provider": "openai", "api": "chat",
                   "model": m, "outcome": o, "status": s, "cost_usd": c, "pricing": "priced" if c else None,
                   "input_tokens": i_, "output_tokens": o_} for i, (m, o, s, c, i_, o_) in enumerate(ROWS)])
    store.record([{"ts": now, "key_id": team["rival"].id, "account": "rival", "provider": "openai", "api": "chat",
                   "model": "gpt-4o", "outcome": "forwarded", "status": 200, "cost_usd": "9.5", "pricing": "priced"}])
    store.set_budget("account", "acme", "10", "month", now=now)
    store.add_endpoint("acme", "https://hooks.example.com/x", None)
    return now


def scrape(api, key, **kw) -> dict[tuple[str, tuple], float]:
    r = api("GET", "/metrics", key, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(r.text):
        assert family.name.startswith("aispendtrack_")
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(samples, name, **labels) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


def test_the_totals_equal_report_json(api, team, ledger, store):
    samples = scrape(api, team["owner"].key)
    report = json.loads(CliRunner().invoke(report_command, ["--json", "--account", "acme"],
                                           obj={"db_path": store.target}).output)["totals"]
    assert total(samples, "aispendtrack_calls_total", account="acme") == report["calls"] == len(ROWS)
    for outcome in ("forwarded", "errors", "rate_limited", "budget_exceeded", "forbidden"):
        assert total(samples, "aispendtrack_calls_total", outcome=outcome) == report[outcome]
    assert Decimal(repr(total(samples, "aispendtrack_cost_usd_total"))) == Decimal(report["cost_usd"]) == Decimal("0.1292")
    assert total(samples, "aispendtrack_tokens_total", kind="input") == report["input_tokens"] == 1400
    assert total(samples, "aispendtrack_tokens_total", kind="output") == report["output_tokens"] == 260
    assert samples[("aispendtrack_calls_total", (("account", "acme"), ("model", "gpt-4o-mini"),
                                                 ("outcome", "forwarded")))] == 2
    assert total(samples, "aispendtrack_refusals_total", reason="rate_limited") == 1
    assert total(samples, "aispendtrack_refusals_total", reason="budget_exceeded") == 1
    budget = (("account", "acme"), ("period", "month"), ("scope", "account"), ("subject", "acme"))
    assert samples[("aispendtrack_budget_limit_usd", budget)] == 10
    assert Decimal(repr(samples[("aispendtrack_budget_remaining_usd", budget)])) == Decimal("10") - Decimal("0.1292")
    assert samples[("aispendtrack_webhook_outbox_pending", (("account", "acme"),))] == 0


def test_only_its_own_account(api, team, ledger):
    mine, theirs = scrape(api, team["owner"].key), scrape(api, team["rival"].key)
    assert {dict(ls)["account"] for (_, ls) in mine} == {"acme"}
    assert {dict(ls)["account"] for (_, ls) in theirs} == {"rival"}
    assert total(theirs, "aispendtrack_cost_usd_total") == 9.5


def test_prometheus_bearer_credentials_are_taken_here_only(api, team, ledger):
    owner = team["owner"].key
    assert scrape(api, None, headers={"authorization": f"Bearer {owner}"})
    r = api("GET", "/v1/me", headers={"authorization": f"Bearer {owner}"})
    assert r.status_code == 401  # the API itself keeps its one header


@pytest.mark.parametrize("name, status", [("ada", 200), ("mia", 403), ("vic", 403)])
def test_an_account_wide_read_needs_an_owner_or_admin(api, team, ledger, name, status):
    r = api("GET", "/metrics", team[name].key)
    assert r.status_code == status, r.text
    if status == 403:
        assert "aispendtrack_" not in r.text


def test_no_key_a_wrong_key_a_narrowed_key_or_a_key_in_the_url_gets_nothing(api, team, ledger, store):
    narrowed = store.create_key("acme", CONFIG, name="ci", permissions=("calls",))
    for headers in ({}, {"x-aispendtrack-key": "ask_" + "0" * 32}, {"authorization": "Bearer ask_" + "0" * 32},
                    {"authorization": "Basic b3duZXI6eA=="}):
        r = api("GET", "/metrics", headers=headers)
        assert r.status_code == 401 and "aispendtrack_calls" not in r.text
    r = api("GET", "/metrics", narrowed.key)
    assert r.status_code == 403 and r.json()["error"]["permission"] == "api"
    r = api("GET", f"/metrics?key={team['owner'].key}")
    assert r.status_code == 400 and team["owner"].key not in r.text


@pytest.mark.period  # "today": recorded, scraped and reported within one UTC day
def test_todays_latency_percentiles_equal_report_and_usage(api, team, store):
    """The latency gauges: today's nearest-rank p50/p95 per model, the numbers `report --since
    TODAY --json` and `/v1/usage?period=today` give on the same ledger (refused calls left out)."""
    now = time.time()
    day_start = now - now % 86400
    at = max(day_start, now - 60)  # today's calls, whatever the time of day
    rows = [{"ts": at + i * 0.001, "key_id": team["owner"].id, "account": "acme", "provider": "openai", "api": "chat",
             "model": "gpt-4o-mini" if i % 3 else "gpt-4o", "outcome": "forwarded", "status": 200,
             "latency_ms": 100.0 + 37 * i, "streamed": bool(i % 2), "ttfb_ms": 20.0 + i if i % 2 else None}
            for i in range(23)]
    rows.append({**rows[0], "outcome": "rate_limited", "status": 429, "latency_ms": 0.5})
    store.record(rows)
    samples = scrape(api, team["owner"].key)
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    rep = json.loads(CliRunner().invoke(report_command, ["--json", "--account", "acme", "--since", today],
                                        obj={"db_path": store.target}).output)
    usage = api("GET", "/v1/usage?period=today", team["owner"].key).json()
    assert [(g["key"], g["latency"]) for g in usage["groups"]] == [(g["key"], g["latency"]) for g in rep["groups"]]
    seen = 0
    for g in rep["groups"]:
        lat = g["latency"]
        for measure, fields in (("total", ("p50_ms", "p95_ms")), ("ttfb", ("ttfb_p50_ms", "ttfb_p95_ms"))):
            for quantile, field in zip(("0.5", "0.95"), fields):
                labels = tuple(sorted({"account": "acme", "model": g["key"], "measure": measure,
                                       "quantile": quantile}.items()))
                assert samples[("aispendtrack_latency_today_seconds", labels)] == pytest.approx(lat[field] / 1000)
                seen += 1
    assert seen == 8  # two models, both measures, both quantiles
    mini = next(g["latency"] for g in rep["groups"] if g["key"] == "gpt-4o-mini")
    assert mini["calls"] == 15 and mini["p50_ms"] == 100.0 + 37 * 11  # nearest rank: the 8th of 15 durations
