"""The daily reconciliation in a real `aispendtrack serve` process: started with
`[reconcile] schedule = "daily"` and an admin key in its environment, it reconciles the due
UTC day against the fake provider's admin API by itself, saves the run, delivers a signed
`reconcile.drift` for usage that went around the gateway, and answers it on `/v1/reconcile`
to the owner only. The admin key is in neither serve's log, nor the database file, nor an answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time as dtime, timedelta
from decimal import Decimal

import pytest

from aispendtrack.config import parse_config
from aispendtrack.demo.fake.billing import Served
from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.reconcile.schedule import due_day
from aispendtrack.store import open_store

from support.harness import Serve, http
from support.webhooks import Receiver, wait_for

ADMIN = "sk-admin-E2EscheduleADMINkey0123456789"


@pytest.mark.period  # the day reconciled is the UTC day before today (the one before, until 01:00 UTC)
def test_serve_reconciles_the_due_day_by_itself(tmp_path, monkeypatch):
    db_path = tmp_path / "aispendtrack.db"
    plain = parse_config({"tiers": {"pro": {"max_keys": 20}}})
    with FakeProvider().start() as fake, Receiver() as receiver, open_store(db_path) as store:
        store.create_account("acme", "pro")
        owner = store.create_key("acme", plain, name="owner")
        store.add_member("acme", "mia", "member", plain)
        mia = store.create_key("acme", plain, name="mia", member="mia")
        endpoint, secret = store.add_endpoint("acme", receiver.url("/drift"), ("reconcile.drift",))
        receiver.secrets["/drift"] = secret
        today = datetime.now(UTC).date()
        for back in (1, 2, 3):  # whichever day is due when serve looks: usage the gateway never saw
            day = today - timedelta(days=back)
            fake.billing.add(Served("openai", "gpt-4o-mini", datetime.combine(day, dtime(12), UTC).timestamp(),
                                    2000, 0, 500, project="proj_a"))
        config_path = tmp_path / "mitm.toml"
        config_path.write_text(f"""
[webhooks]
allow_private_networks = true
[reconcile]
schedule = "daily"
drift_usd = "0.0000001"
[reconcile.openai]
base_url = "{fake.url}"
[reconcile.openai.projects]
proj_a = "acme"
""")
        monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)  # serve's environment
        monkeypatch.delenv("ANTHROPIC_ADMIN_KEY", raising=False)
        due = {due_day(datetime.now(UTC))}
        with Serve(tmp_path, db_path, config_path) as serve:
            [event] = wait_for(lambda: receiver.delivered("reconcile.drift"), timeout=60, what="reconcile.drift")
            status, body = http("GET", serve.url + "/v1/reconcile", owner.key)
            denied, _ = http("GET", serve.url + "/v1/reconcile", mia.key)
            log = serve.output()
        due.add(due_day(datetime.now(UTC)))
    assert receiver.bad == [] and status == 200 and denied == 403
    [entry] = json.loads(body)
    run = entry["latest"]
    data = event["data"]
    assert (run["status"], run["provider"], run["off_rows"]) == ("ok", "openai", 1)
    assert datetime.fromisoformat(run["since"]).date() in due and run["since"] == run["until"]
    assert (data["account"], data["run_id"], data["unexplained_usd"]) == ("acme", run["id"], run["unexplained_usd"])
    assert Decimal(data["unexplained_usd"]) > 0 and data["dashboard"] == f"/dashboard/reconcile/{run['id']}"
    assert ADMIN not in log and ADMIN not in body.decode()
    for name in (db_path.name, db_path.name + "-wal"):
        if (db_path.parent / name).exists():
            assert ADMIN.encode() not in (db_path.parent / name).read_bytes()
    assert any(r.header("authorization") == f"Bearer {ADMIN}" for r in fake.received)  # it did use the key
