"""`budget.threshold` events: queued with the ledger row whose settled cost reaches 80 %
and 100 % of a budget, once each per budget and period."""

import json
import sqlite3
from decimal import Decimal

import pytest

from aispendtrack.limits import budget as rules
from aispendtrack.store import budgets, open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.writer import StoreWriter

T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z
DEC = 1_796_083_200.0  # 2026-12-01T00:00:00Z
NANO = rules.NANO


@pytest.fixture()
def db(tmp_path):
    """The store, with acme listening to `budget.threshold`, and a running proxy writer (`db.writer`)."""
    store = open_store(tmp_path / "shared.db")
    store.create_account("acme", "pro")
    store.add_endpoint("acme", "http://127.0.0.1:9/hook", ("budget.threshold",))
    store.writer = StoreWriter(store)
    store.writer.start()
    yield store
    store.writer.close()
    store.close()


def sql(db, statement):
    with db.connection() as conn:
        return conn.execute(statement).fetchall()


def spend(db, cost, now=T0, key_id="k1", tier_budget=None, hold=None):
    """Admit one call (a hold of `cost`, or `hold`) and write its ledger row at `cost` (the
    settle), both through the proxy's writer."""
    d = db.writer.admit_sync(Admission(key_id, "acme", None, None, now,
                                       budgets.Charge(rules.to_nano(hold or cost), tier_budget)))
    assert d.admitted
    db.writer.write_sync({"ts": now, "key_id": key_id, "account": "acme", "provider": "openai",
                          "outcome": "forwarded", "cost_usd": Decimal(cost), "pricing": "priced",
                          "reservation_id": d.budget.id})


def events(db):
    return [json.loads(p)["data"] for (p,) in sql(
        db, "SELECT payload FROM webhook_messages WHERE type = 'budget.threshold' ORDER BY rowid")]


def test_each_threshold_once_per_period_and_again_in_the_next(db):
    db.set_budget("account", "acme", "1", "month", now=T0)
    spend(db, "0.5")
    assert events(db) == []
    spend(db, "0.3")  # 0.8: reaches 80 %
    assert events(db) == [{"account": "acme", "key_id": None, "scope": "account", "period": "month",
                           "period_start": "2026-11-01T00:00:00.000000Z", "budget_usd": "1",
                           "spent_usd": "0.8", "threshold": 80}]
    spend(db, "0.1")  # 0.9: still past 80 %, no repeat
    assert len(events(db)) == 1
    spend(db, "0.1")  # 1.0: reaches 100 %
    spend(db, "0")  # a free call after it: nothing new
    assert [(e["threshold"], e["spent_usd"]) for e in events(db)] == [(80, "0.8"), (100, "1")]
    spend(db, "0.95", now=DEC)  # December: a new period, 80 % is sent again
    got = events(db)
    assert len(got) == 3 and got[2]["threshold"] == 80
    assert got[2]["period_start"] == "2026-12-01T00:00:00.000000Z" and got[2]["spent_usd"] == "0.95"


def test_one_call_past_both_thresholds_sends_both_and_key_budgets_name_the_key(db):
    db.set_budget("key", "k1", "0.4", "day", now=T0)
    spend(db, "0.45", hold="0.3")  # over its hold: the overshoot still counts as spent
    assert [(e["scope"], e["key_id"], e["period"], e["threshold"]) for e in events(db)] == [
        ("key", "k1", "day", 80), ("key", "k1", "day", 100)]
    assert events(db)[0]["period_start"] == "2026-11-26T00:00:00.000000Z"
    spend(db, "0.01", key_id="k2")  # another key, no budget of its own: nothing
    assert len(events(db)) == 2


def test_a_tier_default_budget_alerts_too(db):
    tier = rules.Budget("account", "acme", NANO, "total")
    spend(db, "0.85", tier_budget=tier)
    assert [(e["period"], e["period_start"], e["threshold"]) for e in events(db)] == [("total", None, 80)]


def test_no_endpoint_no_message_but_the_threshold_is_still_spent(db):
    db.set_budget("account", "acme", "1", "month", now=T0)
    sql(db, "UPDATE webhook_endpoints SET disabled = 'x'")
    spend(db, "0.9")
    sql(db, "UPDATE webhook_endpoints SET disabled = NULL")
    spend(db, "0.05")
    assert events(db) == []  # 80 % was reached while nobody listened: not sent late


def test_an_earlier_reservations_table_gains_the_limit_columns(tmp_path):
    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    old.execute("""CREATE TABLE budget_reservations (id TEXT PRIMARY KEY, created REAL NOT NULL,
        amount_nano INTEGER NOT NULL, key_id TEXT, key_period TEXT, account TEXT, account_period TEXT,
        expired INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID""")
    old.execute("INSERT INTO budget_reservations (id, created, amount_nano) VALUES ('r1', 1, 5)")
    old.close()
    open_store(tmp_path / "old.db").close()
    open_store(tmp_path / "old.db").close()  # once is enough: opening it again changes nothing
    with open_store(tmp_path / "old.db") as store:
        assert sql(store, "SELECT id, amount_nano, key_limit, account_limit FROM budget_reservations") == [
            ("r1", 5, None, None)]
