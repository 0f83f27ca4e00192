"""The dashboard's period, tag filter, tag breakdown and latency, in process: the numbers
equal `report --json`, `/v1/usage` and `/metrics` on one ledger; the choice is in the URL
(and in the export's and the live JSON's); bad choices are a 400 naming the parameter."""

import csv
import io
import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from aispendtrack.cli.report import report_command
from aispendtrack.views.formats import fmt_usd
from aispendtrack.serve.app import create_app
from aispendtrack.views.latency import fmt_ms

from support.html_tables import tables, texts
from support.team import CONFIG

NOV = "from=2026-11-01&to=2026-11-30"  # the rows' month, whatever today is
FEATURES = ("search", "chat", None)


@pytest.fixture
def ledger(store, team):
    """November 2026: 30 calls of acme's owner and mia over three days, tagged feature=search,
    chat or nothing, with durations (streams with a first byte); a refused call; rival's call."""
    rows = []
    for i in range(30):
        who = "owner" if i % 3 else "mia"
        rows.append({"ts": datetime(2026, 11, 10 + i % 3, 9, i, tzinfo=UTC), "key_id": team[who].id, "account": "acme",
                     "provider": "openai", "api": "chat", "model": "gpt-4o" if i % 2 else "gpt-4o-mini",
                     "outcome": "forwarded", "status": 200, "cost_usd": f"0.{i + 1:02d}", "pricing": "priced",
                     "input_tokens": 10 * i, "output_tokens": i, "latency_ms": 50.0 + 37 * i, "streamed": i % 4 == 0,
                     "ttfb_ms": 5.0 + i if i % 4 == 0 else None,
                     "tags": None if FEATURES[i % 3] is None else {"feature": FEATURES[i % 3], "env": "prod"}})
    rows.append({"ts": datetime(2026, 11, 12, 10, tzinfo=UTC), "key_id": team["owner"].id, "account": "acme",
                 "provider": "openai", "model": "gpt-4o", "outcome": "rate_limited", "status": 429,
                 "latency_ms": 1.0, "tags": {"feature": "search"}})
    rows.append({"ts": datetime(2026, 11, 10, tzinfo=UTC), "key_id": team["rival"].id, "account": "rival",
                 "provider": "openai", "model": "gpt-4o", "outcome": "forwarded", "status": 200, "cost_usd": "9",
                 "pricing": "priced", "latency_ms": 9.0, "tags": {"feature": "search"}})
    store.record(rows)
    return team


@pytest.fixture
def client(db_path, ledger):
    base = f"http://{CONFIG.serve.listen}"
    c = TestClient(create_app(CONFIG, db_path, deliver=False), base_url=base)
    r = c.post("/login", data={"key": ledger["owner"].key}, headers={"origin": base}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def cli_report(store, *args) -> dict:
    result = CliRunner().invoke(report_command, ["--json", "--account", "acme", "--since", "2026-11-01",
                                                 "--until", "2026-11-30", *args], obj={"db_path": store.target})
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def api_usage(client, key, query) -> dict:
    r = client.get(f"/v1/usage?{query}", headers={"x-aispendtrack-key": key})
    assert r.status_code == 200, r.text
    return r.json()


def shown(page: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', page).group(1).strip()


def test_tag_breakdown_equals_report_and_usage(client, ledger, store):
    page = client.get(f"/?{NOV}&by=tag:feature").text
    rep = cli_report(store, "--by", "tag:feature")
    api = api_usage(client, ledger["owner"].key, f"{NOV}&by=tag:feature")
    assert api["groups"] == rep["groups"] and api["totals"] == rep["totals"] and api["latency"] == rep["latency"]
    assert [r[:3] for r in texts(page, "by-tag")] == [
        [g["key"] or "(no tag)", fmt_usd(g["cost_usd"]), f"{g['calls']:,}"] for g in rep["groups"]]
    assert {g["key"] for g in rep["groups"]} == {"search", "chat", None}
    assert shown(page, "spend-month") == fmt_usd(rep["totals"]["cost_usd"]) == "$4.65"


def test_tag_filter_equals_report_usage_and_export(client, ledger, store):
    page = client.get(f"/?{NOV}&tag=feature=search").text
    rep = cli_report(store, "--tag", "feature=search")
    api = api_usage(client, ledger["owner"].key, f"{NOV}&tag=feature%3Dsearch")
    assert api["totals"] == rep["totals"] and api["filters"]["tag"] == "feature=search"
    assert (rep["totals"]["calls"], rep["totals"]["rate_limited"]) == (11, 1)  # 10 answered, 1 refused
    assert shown(page, "spend-month") == fmt_usd(rep["totals"]["cost_usd"])
    assert shown(page, "count-calls") == "11"
    assert [r[:2] for r in texts(page, "by-model")] == [[g["key"], fmt_usd(g["cost_usd"])] for g in rep["groups"]]
    assert {r[1].split(" (")[0] for r in texts(page, "latest")} <= {"owner", "mia"}
    assert len(texts(page, "latest")) == 11
    href = re.search(r'href="(/dashboard/export\.csv\?[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "tag=feature%3Dsearch" in href and "from=2026-11-01" in href and "to=2026-11-30" in href
    r = client.get(href)
    assert r.status_code == 200 and "2026-11-01_2026-11-30.csv" in r.headers["content-disposition"]
    exported = list(csv.DictReader(io.StringIO(r.text)))
    assert len(exported) == 11 and all(json.loads(row["tags"])["feature"] == "search" for row in exported)


def test_latency_equals_report_usage_and_metrics_totals(client, ledger, store):
    page = client.get(f"/?{NOV}").text
    for by in ("model", "key"):
        rep = cli_report(store, "--by", by)
        api = api_usage(client, ledger["owner"].key, f"{NOV}&by={by}")
        assert [(g["key"], g["latency"]) for g in api["groups"]] == [(g["key"], g["latency"]) for g in rep["groups"]]
        rows = [r for r in tables(page)["latency"][1:] if r[0][0].startswith(by + " ")]
        assert len(rows) == len(rep["groups"])
        for row, g in zip(rows, rep["groups"]):
            lat = g["latency"]
            assert [c[0] for c in row[1:]] == [f"{lat['calls']:,}", fmt_ms(lat["p50_ms"]), fmt_ms(lat["p95_ms"]),
                                               f"{lat['streams']:,}", fmt_ms(lat["ttfb_p50_ms"]),
                                               fmt_ms(lat["ttfb_p95_ms"])]
            assert [row[i][1] for i in (2, 3, 5, 6)] == [f"{lat[f]} ms" for f in
                                                        ("p50_ms", "p95_ms", "ttfb_p50_ms", "ttfb_p95_ms")]
    members = api_usage(client, ledger["owner"].key, f"{NOV}&by=member")
    assert {g["member"]: g["latency"]["calls"] for g in members["groups"]} == {"owner": 20, "mia": 10}
    assert members["latency"]["calls"] == 30  # the refused call has no place in latency
    model = {g["key"]: g["latency"] for g in cli_report(store)["groups"]}
    assert model["gpt-4o"]["calls"] == 15 and model["gpt-4o"]["streams"] == 0  # odd i: never a stream
    # /metrics' latency is today's (test_routers_metrics); its totals equal the same ledger's (all in November)
    r = client.get("/metrics", headers={"x-aispendtrack-key": ledger["owner"].key})
    samples = [s for f in text_string_to_metric_families(r.text) for s in f.samples]
    calls = sum(s.value for s in samples if s.name == "aispendtrack_calls_total")
    cost = sum(Decimal(repr(s.value)) for s in samples if s.name == "aispendtrack_cost_usd_total")
    totals = cli_report(store)["totals"]
    assert calls == totals["calls"] == 31 and cost == Decimal(totals["cost_usd"])
    assert shown(page, "count-calls") == "31"


def test_the_period_is_in_the_url_and_in_what_the_page_reads(client, ledger, store):
    page = client.get("/?from=2026-11-11&to=2026-11-11").text
    rep = cli_report(store, "--by", "model")  # the month, for contrast
    day = json.loads(CliRunner().invoke(report_command, ["--json", "--account", "acme", "--since", "2026-11-11",
                                                         "--until", "2026-11-11"], obj={"db_path": store.target}).output)
    assert shown(page, "spend-month") == fmt_usd(day["totals"]["cost_usd"]) != fmt_usd(rep["totals"]["cost_usd"])
    assert shown(page, "period-label") == "2026-11-11"
    assert 'data-testid="by-tag"' not in page  # no breakdown asked for
    assert 'value="2026-11-11"' in page
    live = client.get("/dashboard/live.json?from=2026-11-11&to=2026-11-11").json()
    assert live["spend_month_exact"] == "$" + day["totals"]["cost_usd"] and live["period_label"] == "2026-11-11"
    assert {c["time"][:10] for c in live["latest"]} == {"2026-11-11"}
    # presets link to themselves, keeping the tag choices
    page = client.get(f"/?{NOV}&by=tag:env").text
    assert re.search(r'href="/\?period=7d&amp;by=tag%3Aenv" data-testid="preset-7d"', page)


@pytest.mark.parametrize("query, message", [
    ("period=fortnight", "period: &#39;fortnight&#39; is not one of"),
    ("from=2026-11-31", "from: &#39;2026-11-31&#39; is not a date"),
    ("from=2026-11-30&to=2026-11-01", "from: 2026-11-30 is after to (2026-11-01)"),
    ("from=1900-01-01&to=2026-11-01", "to: the range is 46,326 days long"),
    ("to=2026-11-01", "from: required with to"),
    ("tag=feature", "tag: write NAME=VALUE"),
    ("by=tag:Bad", "by: tag:NAME"),
    ("period=7d&period=30d", "period: give it once"),
])
def test_bad_choices_are_a_400_naming_the_parameter(client, ledger, query, message):
    r = client.get(f"/?{query}")
    assert r.status_code == 400 and message in r.text and 'data-testid="period-picker"' in r.text
    for path in ("/dashboard/live.json", "/dashboard/export.csv"):
        r = client.get(f"{path}?{query}")
        assert r.status_code == 400 and r.json()["error"]["message"].startswith(message.split(" ")[0])
    if "period=7d&period" in query:
        return  # the API, like every FastAPI query parameter, takes a repeated one's last value
    r = client.get(f"/v1/usage?{query}", headers={"x-aispendtrack-key": ledger["owner"].key})
    assert r.status_code in (400, 422) and r.json()["error"]["message"].startswith(message.split(" ")[0])


def test_the_api_takes_either_bounds_or_days(client, ledger):
    key = {"x-aispendtrack-key": ledger["owner"].key}
    by_days = client.get(f"/v1/usage?{NOV}", headers=key).json()
    by_bounds = client.get("/v1/usage?since=2026-11-01&until=2026-11-30", headers=key).json()
    assert by_days["totals"] == by_bounds["totals"] and by_days["since"] == by_bounds["since"]
    r = client.get(f"/v1/usage?{NOV}&since=2026-11-01", headers=key)
    assert r.status_code == 400 and "either since/until or period/from/to" in r.text
    r = client.get(f"/v1/calls?{NOV}&tag=env%3Dprod", headers=key)
    assert r.status_code == 200 and len(r.text.splitlines()) == 20


def test_a_member_sees_only_their_own_calls_in_any_period(db_path, ledger, store):
    base = f"http://{CONFIG.serve.listen}"
    c = TestClient(create_app(CONFIG, db_path, deliver=False), base_url=base)
    c.post("/login", data={"key": ledger["mia"].key}, headers={"origin": base}, follow_redirects=False)
    page = c.get(f"/?{NOV}&by=tag:feature").text
    mine = api_usage(c, ledger["mia"].key, f"{NOV}&by=tag:feature")
    assert [r[:3] for r in texts(page, "by-tag")] == [
        [g["key"] or "(no tag)", fmt_usd(g["cost_usd"]), f"{g['calls']:,}"] for g in mine["groups"]]
    assert mine["totals"]["calls"] == 10 and shown(page, "count-calls") == "10"
    assert all(r[0].startswith("key mia") or r[0].startswith("model ") for r in texts(page, "latency"))
