"""`serve` runs the daily reconciliation when `[reconcile] schedule = "daily"`: the app started
(its lifespan) against the fake provider's admin API saves a run of the due day without any
request; with the schedule off it saves none."""

import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from aispendtrack.config import parse_config
from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.reconcile.schedule import due_day
from aispendtrack.serve.app import create_app

KEY = "sk-admin-SERVEscheduleKEY012345678"


def settings(fake, schedule: str):
    return parse_config({"reconcile": {"schedule": schedule,
                                       "openai": {"base_url": fake.url, "projects": {"proj_a": "acme"}}}})


def wait_for_runs(store, seconds=30.0) -> list:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if runs := store.latest_reconcile_runs():
            return runs
        time.sleep(0.05)
    return []


@pytest.mark.period  # the day run is the UTC day before today (before 01:00 UTC: the one before)
def test_serve_runs_the_schedule_when_daily(db_path, store, monkeypatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY", raising=False)
    store.create_account("acme", "pro")
    with FakeProvider().start() as fake:
        config = settings(fake, "daily")
        before = due_day(datetime.now(UTC))
        with TestClient(create_app(config, db_path), base_url=f"http://{config.serve.listen}"):
            runs = wait_for_runs(store)
        after = due_day(datetime.now(UTC))
    assert [(r.provider, r.status, r.accounts) for r in runs] == [("openai", "ok", ("acme",))], runs
    assert runs[0].since in (before, after) and runs[0].since == runs[0].until


def test_serve_runs_nothing_when_off(db_path, store, monkeypatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    with FakeProvider().start() as fake:
        config = settings(fake, "off")
        with TestClient(create_app(config, db_path), base_url=f"http://{config.serve.listen}") as client:
            assert client.get("/", follow_redirects=False).status_code == 200  # served, started
        assert fake.received == [] and store.latest_reconcile_runs() == []
