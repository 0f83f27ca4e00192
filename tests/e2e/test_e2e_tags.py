"""Tags end to end: a real mitmdump and the fake provider; the tag headers never reach the
provider, the ledger row keeps them, and `report --by tag:NAME`, `export` and
`/v1/usage?by=tag:NAME` split the spend by them; a bad tag header is a 400 and nothing goes
upstream."""

from __future__ import annotations

import json
import time

import httpx2
from click.testing import CliRunner
from fastapi.testclient import TestClient

from aispendtrack.cli.main import cli
from aispendtrack.proxy.auth import HEADER
from aispendtrack.serve.app import create_app

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
