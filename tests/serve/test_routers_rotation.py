"""A key whose secret is `[keys] rotate_after_days` old is flagged wherever keys are shown:
`/v1/keys`, `/v1/me`, the dashboard's keys table and `keys list`; rotating it clears the flag;
and serve's delivery worker queues `key.rotation_due`."""

import json
import time
from datetime import UTC, datetime

from click.testing import CliRunner
from fastapi.testclient import TestClient

from aispendtrack.cli.main import cli
from aispendtrack.config import parse_config
from aispendtrack.serve.app import create_app
from aispendtrack.serve.delivery import Deliverer
from aispendtrack.store.db import iso

from support.team import CONFIG

DAY = 86_400


def age(store, key_id: str, days: float) -> None:
    when = iso(datetime.fromtimestamp(time.time() - days * DAY, UTC))
    with store.connection() as conn, conn.tx():
        conn.execute("UPDATE key_secrets SET created = ? WHERE key_id = ?", [when, key_id])


def test_flagged_in_the_api_the_page_and_the_cli_until_rotated(api, team, store):
    age(store, team["mia"].id, 120)
    keys = {k["id"]: k for k in api("GET", "/v1/keys", team["owner"].key).json()}
    assert keys[team["mia"].id]["rotation_due"] and not keys[team["owner"].id]["rotation_due"]
    assert keys[team["mia"].id]["rotated"] < iso(datetime.fromtimestamp(time.time() - 119 * DAY, UTC))
    assert api("GET", "/v1/me", team["mia"].key).json()["rotation_due"] is True
    assert api("GET", "/v1/me", team["owner"].key).json()["rotation_due"] is False
    runner = CliRunner()
    listed = json.loads(runner.invoke(cli, ["--db", store.target, "keys", "list", "acme", "--json"]).output)
    assert {k["id"]: k["rotation_due"] for k in listed}[team["mia"].id] is True
    table = runner.invoke(cli, ["--db", store.target, "keys", "list", "acme"]).output
    assert "rotate it" in table
    rotated = api("POST", f"/v1/keys/{team['mia'].id}/rotate", team["owner"].key)
    assert rotated.status_code in (200, 201), rotated.text
    keys = {k["id"]: k for k in api("GET", "/v1/keys", team["owner"].key).json()}
    assert not keys[team["mia"].id]["rotation_due"]


def test_the_setting_moves_the_flag(api, team, store):
    age(store, team["mia"].id, 20)
    strict = parse_config({"tiers": {"pro": {"max_keys": 20}}, "keys": {"rotate_after_days": 14}})
    assert api("GET", "/v1/me", team["mia"].key, config=strict).json()["rotation_due"] is True
    assert api("GET", "/v1/me", team["mia"].key, config=CONFIG).json()["rotation_due"] is False


def test_the_dashboard_marks_it(db_path, team, store):
    age(store, team["ada"].id, 100)
    base = f"http://{CONFIG.serve.listen}"
    client = TestClient(create_app(CONFIG, db_path, deliver=False), base_url=base)
    r = client.post("/login", data={"key": team["owner"].key}, headers={"origin": base}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/").text
    assert f'data-testid="rotation-due-{team["ada"].id}"' in page
    assert f'data-testid="rotation-due-{team["owner"].id}"' not in page


def test_the_delivery_worker_queues_the_reminder(store, team):
    store.add_endpoint("acme", "https://hooks.example.com/x", None)
    age(store, team["vic"].id, 95)
    sent = []
    worker = Deliverer(store, rotate_after_days=90, send=lambda url, headers, body: (sent.append(body), (200, None))[1])
    worker.run_once()
    due = [json.loads(b) for b in sent if json.loads(b)["type"] == "key.rotation_due"]
    assert [d["data"]["key_id"] for d in due] == [team["vic"].id]
