"""A view given a `now` shows everything as of that instant: its windows and budgets, and which
keys are still in force (an expiry between the real clock and `now` counts)."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from aispendtrack.serve.dashboard import view
from aispendtrack.views.budgets import budget_entries
from aispendtrack.views.usage import account_usage, key_usage

NOW = time.time()
LATER = NOW + 2 * 3600  # the key below has expired by then


@pytest.fixture
def expiring(store, config):
    store.create_account("acme", "pro")
    new = store.create_key("acme", config, name="laptop", expires=datetime.fromtimestamp(NOW + 3600, UTC))
    store.set_budget("key", new.id, "5", "day", now=NOW)
    return new


def test_key_usage_states_as_of_now(store, config, expiring):
    assert [k["state"] for k in key_usage(store, config, now=NOW)] == ["active"]
    assert [k["state"] for k in key_usage(store, config, now=LATER)] == ["expired"]


def test_account_usage_counts_keys_active_at_now(store, config, expiring):
    assert [a["active_keys"] for a in account_usage(store, config, now=NOW)] == [1]
    assert [a["active_keys"] for a in account_usage(store, config, now=LATER)] == [0]


def test_budget_entries_list_keys_active_at_now(store, config, expiring):
    assert [e["subject"] for e in budget_entries(store, config, now=NOW)] == [expiring.id]
    assert budget_entries(store, config, now=LATER) == []


def test_dashboard_limits_list_keys_active_at_now(store, config, expiring):
    def names(now):
        return [r["name"] for r in view.limits(store, config, "acme", {expiring.id: "laptop"}, now)]

    assert "key laptop: last hour" in names(NOW)
    assert [n for n in names(LATER) if n.startswith("key ")] == []


def test_a_past_now_sees_a_key_made_to_expire_since(store, config):
    store.create_account("acme", "pro")
    store.create_key("acme", config, expires=datetime.now(UTC) - timedelta(seconds=1))
    assert [k["state"] for k in key_usage(store, config, now=NOW - 3600)] == ["active"]
