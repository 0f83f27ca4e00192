"""Tags end to end: a real mitmdump and the fake provider; the tag headers never reach the
provider, the ledger row keeps them, and `report --by tag:NAME`, `export` and
`/v1/usage?by=tag:NAME` split the spend by them; a bad tag header is a 400 and nothing goes
upstream. On one ledger the proxy wrote, `report --json`, `/v1/usage` and the dashboard give
the same tag groups and latency percentiles, and `/metrics` the same totals."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import httpx2
from click.testing import CliRunner
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from aispendtrack.cli.main import cli
from aispendtrack.proxy.auth import HEADER
from aispendtrack.serve.app import create_app
from aispendtrack.views.latency import fmt_ms

from support.clock import utc_today
from support.html_tables import tables, texts

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def call(proxy, key: str, **headers) -> httpx2.Response:
    return httpx2.post(proxy.url("openai") + "/v1/chat/completions", json=CHAT, timeout=20,
                       headers={HEADER: key, **headers})


def settled(store, n: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        with store.connection() as conn:
            if conn.execute("SELECT count(*) FROM calls").fetchone()[0] >= n:
                return
        assert time.monotonic() < deadline, "ledger rows did not arrive"
        time.sleep(0.05)


def test_tags_split_the_spend_and_never_reach_the_provider(reverse_proxy, fake, account_key, store, config, db_path):
    key = account_key.key
    assert call(reverse_proxy, key, **{"x-aispendtrack-tags": "feature=search, env=prod"}).status_code == 200
    assert call(reverse_proxy, key, **{"x-aispendtrack-tag-feature": "chat"}).status_code == 200
    assert call(reverse_proxy, key).status_code == 200
    bad = call(reverse_proxy, key, **{"x-aispendtrack-tags": "feature"})
    assert bad.status_code == 400 and "not name=value" in bad.json()["error"]["message"]
    assert len(fake.received) == 3  # the bad one never went upstream
    for r in fake.received:
        assert not [h for h in r.headers if h[0].lower().startswith("x-aispendtrack")], r.headers
    settled(store, 4)
    runner = CliRunner()
    by_tag = json.loads(runner.invoke(cli, ["--db", str(db_path), "report", "--json", "--by", "tag:feature"]).output)
    assert {g["key"]: g["forwarded"] for g in by_tag["groups"]} == {"search": 1, "chat": 1, None: 1}
    exported = [json.loads(line) for line in
                runner.invoke(cli, ["--db", str(db_path), "export", "--format", "jsonl"]).output.splitlines()]
    assert [r["tags"] for r in exported] == [{"env": "prod", "feature": "search"}, {"feature": "chat"}, None, None]
    csv_out = runner.invoke(cli, ["--db", str(db_path), "export", "--format", "csv"]).output
    assert '"{""env"":""prod"",""feature"":""search""}"' in csv_out
    owner = store.create_key("acme", config, name="api").key
    client = TestClient(create_app(config, db_path, deliver=False), base_url=f"http://{config.serve.listen}")
    usage = client.get("/v1/usage?by=tag:env", headers={HEADER: owner}).json()
    assert {g["key"]: g["calls"] for g in usage["groups"]} == {"prod": 1, None: 3}
    assert client.get("/v1/usage?by=tag:Env'", headers={HEADER: owner}).status_code == 422


def test_a_keys_default_tags_are_recorded_and_a_header_overrides_one(reverse_proxy, fake, account_key, store, db_path):
    runner = CliRunner()
    made = runner.invoke(cli, ["--db", str(db_path), "keys", "create", "acme", "--name", "ci",
                               "--tags", "env=ci,team=search", "--json"])
    assert made.exit_code == 0, made.output
    key = json.loads(made.output)["key"]  # made while the proxy runs: in force on the next request
    assert call(reverse_proxy, key).status_code == 200
    assert call(reverse_proxy, key, **{"x-aispendtrack-tags": "env=prod, feature=chat"}).status_code == 200
    assert call(reverse_proxy, key, **{"x-aispendtrack-tag-team": "ads"}).status_code == 200
    assert call(reverse_proxy, account_key.key).status_code == 200  # a key without defaults: no tags
    for r in fake.received:
        assert not [h for h in r.headers if h[0].lower().startswith("x-aispendtrack")], r.headers
    settled(store, 4)
    exported = [json.loads(line) for line in
                runner.invoke(cli, ["--db", str(db_path), "export", "--format", "jsonl"]).output.splitlines()]
    assert [r["tags"] for r in exported] == [
        {"env": "ci", "team": "search"},
        {"env": "prod", "feature": "chat", "team": "search"},
        {"env": "ci", "team": "ads"},
        None,
    ]


FEATURES = ("search", "chat", "search", None, "chat", "search")


def test_tags_and_latency_equal_everywhere(reverse_proxy, fake, account_key, store, config, db_path):
    for i, feature in enumerate(FEATURES):
        body = {"model": "gpt-4o-mini" if i % 2 else "gpt-4.1-nano", "messages": [{"role": "user", "content": "hi"}],
                **({"stream": True} if i % 3 == 0 else {})}
        headers = {HEADER: account_key.key, **({"x-aispendtrack-tags": f"feature={feature}"} if feature else {})}
        r = httpx2.post(reverse_proxy.url("openai") + "/v1/chat/completions", json=body, headers=headers, timeout=20)
        assert r.status_code == 200, r.text
    settled(store, len(FEATURES))
    today = utc_today()  # a range of three days holds the calls whenever midnight falls
    first, last = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()
    days = f"from={first}&to={last}"

    def report(*args) -> dict:
        out = CliRunner().invoke(cli, ["--db", str(db_path), "report", "--json", "--since", first, "--until", last,
                                       *args])
        assert out.exit_code == 0, out.output
        return json.loads(out.output)

    owner = store.create_key("acme", config, name="owner")
    base = f"http://{config.serve.listen}"
    client = TestClient(create_app(config, db_path, deliver=False), base_url=base)
    assert client.post("/login", data={"key": owner.key}, headers={"origin": base},
                       follow_redirects=False).status_code == 303

    def usage(query: str) -> dict:
        r = client.get(f"/v1/usage?{days}&{query}", headers={HEADER: owner.key})
        assert r.status_code == 200, r.text
        return r.json()

    by_tag = report("--by", "tag:feature")
    assert {g["key"]: g["calls"] for g in by_tag["groups"]} == {"search": 3, "chat": 2, None: 1}
    assert usage("by=tag:feature")["groups"] == by_tag["groups"]
    page = client.get(f"/?{days}&by=tag:feature").text
    assert [r[:3] for r in texts(page, "by-tag")] == [
        [g["key"] or "(no tag)", "$" + g["cost_usd"], str(g["calls"])] for g in by_tag["groups"]]

    by_model = report("--by", "model")
    assert by_model["latency"]["calls"] == 6 and by_model["latency"]["streams"] == 2
    assert all(g["latency"]["p50_ms"] > 0 for g in by_model["groups"])
    assert [(g["key"], g["latency"]) for g in usage("by=model")["groups"]] == [
        (g["key"], g["latency"]) for g in by_model["groups"]]
    shown = [r for r in tables(page)["latency"][1:] if r[0][0].startswith("model ")]
    assert [[c[1] for c in r[2:4]] for r in shown] == [
        [f"{g['latency']['p50_ms']} ms", f"{g['latency']['p95_ms']} ms"] for g in by_model["groups"]]
    assert [r[2][0] for r in shown] == [fmt_ms(g["latency"]["p50_ms"]) for g in by_model["groups"]]

    search = report("--tag", "feature=search")
    assert search["totals"]["calls"] == 3 and usage("tag=feature%3Dsearch")["latency"] == search["latency"]

    metrics = client.get("/metrics", headers={HEADER: owner.key}).text
    samples = [s for f in text_string_to_metric_families(metrics) for s in f.samples]
    assert sum(s.value for s in samples if s.name == "aispendtrack_calls_total") == by_model["totals"]["calls"]
    assert sum(Decimal(repr(s.value)) for s in samples if s.name == "aispendtrack_cost_usd_total") == Decimal(
        by_model["totals"]["cost_usd"])
