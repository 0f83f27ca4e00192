"""The daily schedule with the real `reconcile()` against the fake provider's admin APIs, on
both engines: a day of calls through the gateway only is saved as matching; direct traffic
the gateway never saw is saved as acme's drift and sent as `reconcile.drift`; a refused admin
key is saved as a failed run with a clear message, the good run stays, and the key is in
neither the store nor the message."""

import json
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from aispendtrack.config import parse_config
from aispendtrack.demo.fake.billing import Served
from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.reconcile.schedule import Scheduler
from support.ledger_rows import make_row

KEY = "sk-admin-SCHEDULEfakeKEY0123456789"
DAY = date(2026, 11, 2)


def served(n=1200, hour=12) -> Served:
    return Served("openai", "gpt-4o-mini", datetime(2026, 11, 2, hour, tzinfo=UTC).timestamp(), n, 300, 400,
                  project="proj_a")


@pytest.fixture
def fake():
    with FakeProvider().start() as f:
        yield f


def scheduler(store, fake, when: str, key=KEY) -> Scheduler:
    config = parse_config({"reconcile": {"schedule": "daily", "drift_usd": "0.000001",
                                         "openai": {"base_url": fake.url, "projects": {"proj_a": "acme"}}}})
    return Scheduler(store, config, clock=lambda: datetime.fromisoformat(when).timestamp(),
                     environ={"OPENAI_ADMIN_KEY": key})


def test_a_scheduled_day_against_the_fake_provider(any_store, fake, monkeypatch):
    store = any_store
    store.create_account("acme", "pro")
    store.add_endpoint("acme", "https://hooks.example.com/x", ("reconcile.drift",))
    through = served()
    fake.billing.add(through, served(n=5000, hour=9))  # the second one went around the gateway
    store.record([make_row(ts=datetime.fromtimestamp(through.ts, UTC), account="acme", model=through.model,
                           input_tokens=through.input, output_tokens=through.output,
                           cache_read_tokens=through.cache_read, cost_usd=sum(through.costs().values()))])
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)  # reconcile() reads the key from the environment itself
    [good] = scheduler(store, fake, "2026-11-03T01:05:00+00:00").run_due()
    run = store.get_reconcile_run(good, "acme")
    assert (run.status, run.since, run.until, run.off_rows) == ("ok", DAY, DAY, 1)
    [row], _ = store.reconcile_run_rows(good, "acme")
    assert row.verdict == "gateway under" and row.provider.requests - row.gateway.requests == 1
    assert run.unexplained_usd == row.provider.usd - row.gateway.usd > 0
    [event] = [json.loads(m.payload) for m in store.claim_messages("t", time.time() + 1)]
    assert event["type"] == "reconcile.drift" and event["data"]["run_id"] == good
    assert Decimal(event["data"]["unexplained_usd"]) == run.unexplained_usd

    wrong = "sk-admin-WRONGfakeKEY9876543210"
    fake.billing.admin_keys = {KEY}
    monkeypatch.setenv("OPENAI_ADMIN_KEY", wrong)
    [failed] = scheduler(store, fake, "2026-11-04T03:00:00+00:00", key=wrong).run_due()
    bad = store.get_reconcile_run(failed, "acme")
    assert bad.status == "error" and "401" in bad.error and wrong not in bad.error, bad.error
    assert [r.id for r in store.latest_reconcile_runs("acme", ok_only=True)] == [good]
    with store.connection() as conn:
        dump = repr([conn.execute(f"SELECT * FROM {t}").fetchall()
                     for t in ("reconcile_runs", "reconcile_rows", "reconcile_run_accounts", "webhook_messages")])
    assert KEY not in dump and wrong not in dump
