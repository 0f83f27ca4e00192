"""Budgets in the store, exactly: what each store function returns and writes, the standings
a reservation reports, expiry and late settling on a key and an account held together, the
counter created on first use, and the definitions through a store connection."""

import sqlite3
from decimal import Decimal

import pytest

from aispendtrack.limits import budget as rules
from aispendtrack.store import budgets, open_store
from aispendtrack.store.budgets import Reservation, Standing
from aispendtrack.store.sqlite.conn import SqliteConn

from support.budget_store import NANO, T0

DAY = 86400.0
TODAY_END = 1_795_737_600.0  # 2026-11-27T00:00:00Z


@pytest.fixture()
def conn(path):
    """A connection of the store (autocommit, explicit transactions), as the data path has."""
    with open_store(path) as store, store.connection() as c:
        yield c


def write(path, *rows):
    with open_store(path) as store:
        store.record([{"ts": ts, "key_id": key_id, "account": "acme", "provider": "openai", "outcome": "forwarded",
                       "cost_usd": cost, "pricing": "priced", "reservation_id": rid}
                      for ts, cost, rid, key_id in rows])


def reserve(conn, amount, now=T0, tier_budget=None):
    with conn.tx("key:k1", "account:acme"):
        return budgets.reserve(conn, key_id="k1", account="acme", charge=budgets.Charge(amount, tier_budget),
                               now=now)


def counter(conn, scope, subject, key):
    return conn.execute("SELECT spent_nano, reserved_nano, overshoot_nano FROM budget_spend"
                        " WHERE scope = ? AND subject = ? AND period_key = ?", (scope, subject, key)).fetchone()


def test_definitions_through_a_store_connection(conn):
    assert budgets.set_budget(conn, "key", "k1", "2.5", "day", now=T0) == rules.Budget("key", "k1", 2_500_000_000, "day", T0)
    assert budgets.set_budget(conn, "account", "acme", "10", "month", now=T0 + 1) == rules.Budget(
        "account", "acme", 10 * NANO, "month", T0 + 1)
    assert budgets.get_budget(conn, "key", "k1") == rules.Budget("key", "k1", 2_500_000_000, "day", T0)
    assert budgets.get_budget(conn, "key", "k2") is None
    assert budgets.budgeted_subjects(conn) == {("key", "k1"), ("account", "acme")}
    b = budgets.get_budget(conn, "account", "acme")
    assert budgets.standing(conn, b, now=T0) == Standing(b, "m2026-11", 1_796_083_200.0, 0, 0, 0)
    assert budgets.clear_budget(conn, "key", "k1") is True
    assert budgets.clear_budget(conn, "key", "k1") is False  # nothing left to clear
    assert budgets.clear_budget(conn, "key", "never-had-one") is False
    assert budgets.budgeted_subjects(conn) == {("account", "acme")}


def test_a_second_budget_for_the_same_subject_replaces_the_first(conn):
    budgets.set_budget(conn, "key", "k1", "1", "day", now=T0)
    budgets.set_budget(conn, "key", "k1", "3", "week", now=T0 + 5)
    assert conn.execute("SELECT scope, subject, limit_nano, period, since FROM budgets").fetchall() == [
        ("key", "k1", 3 * NANO, "week", T0 + 5)]


def test_an_unknown_scope_is_refused_with_its_name(conn):
    with pytest.raises(ValueError) as e:
        budgets.set_budget(conn, "team", "acme", "1", "month", now=T0)
    assert str(e.value) == "budget scope must be account or key, got 'team'"
    assert conn.execute("SELECT count(*) FROM budgets").fetchone() == (0,)


def test_set_and_standing_count_only_the_period_of_now(path, conn):
    write(path, (T0 - DAY, Decimal("0.5"), None, "k1"), (T0, Decimal("0.25"), None, "k1"),
          (TODAY_END, Decimal("2"), None, "k1"))  # yesterday, today, tomorrow (first instant)
    budgets.set_budget(conn, "key", "k1", "1", "day", now=T0)
    assert counter(conn, "key", "k1", "d2026-11-26") == (NANO // 4, 0, 0)
    b = budgets.get_budget(conn, "key", "k1")
    yesterday = budgets.standing(conn, b, now=T0 - DAY)  # no counter for it: from the ledger
    assert yesterday == Standing(b, "d2026-11-25", T0 - 9 * 3600, NANO // 2, 0, 0)


def test_standing_only_reads(path, conn):
    write(path, (T0, Decimal("0.25"), None, "k1"))
    b = budgets.set_budget(conn, "key", "k1", "1", "week", now=T0)
    conn.execute("DELETE FROM budget_spend")
    ro = SqliteConn(sqlite3.connect(f"file:{path}?mode=ro", uri=True))  # a viewer that may not write
    try:
        assert budgets.standing(ro, b, now=T0) == Standing(b, "w2026-W48", 1_795_996_800.0, NANO // 4, 0, 0)
    finally:
        ro.close()
    assert budgets.standing(conn, b, now=T0).spent_nano == NANO // 4
    assert conn.execute("SELECT count(*) FROM budget_spend").fetchone() == (0,)


def test_a_counter_made_on_first_use_holds_the_ledger_spend(path, conn):
    write(path, (T0 - 100 * DAY, Decimal("0.25"), None, "k1"))
    tier = rules.Budget("account", "acme", NANO, "total", since=123.0)  # no row: counted on first use
    r = reserve(conn, NANO // 10, tier_budget=tier)
    held = rules.Budget("account", "acme", NANO, "total", 0.0)  # a tier default has no `since`
    assert r == Reservation(r.id, (Standing(held, "t", None, NANO // 4, NANO // 10, 0),))
    assert counter(conn, "account", "acme", "t") == (NANO // 4, NANO // 10, 0)


def test_a_key_and_an_account_budget_held_together(conn):
    kb = budgets.set_budget(conn, "key", "k1", "1", "day", now=T0 - 5)
    ab = budgets.set_budget(conn, "account", "acme", "3", "month", now=T0 - 7)
    conn.execute("UPDATE budget_spend SET overshoot_nano = 4 WHERE scope = 'key'")
    first = reserve(conn, NANO * 6 // 10)
    assert len(first.id) == 16 and first == Reservation(first.id, (
        Standing(kb, "d2026-11-26", TODAY_END, 0, NANO * 6 // 10, 4),
        Standing(ab, "m2026-11", 1_796_083_200.0, 0, NANO * 6 // 10, 0)))
    assert first.tightest.budget == kb
    refused = reserve(conn, NANO // 2)  # 0.6 + 0.5 > 1 on the key
    assert refused == Reservation(None, (
        Standing(kb, "d2026-11-26", TODAY_END, 0, NANO * 6 // 10, 4),
        Standing(ab, "m2026-11", 1_796_083_200.0, 0, NANO * 6 // 10, 0)), refused_by=refused.standings[0])
    assert counter(conn, "key", "k1", "d2026-11-26") == (0, NANO * 6 // 10, 4)


def test_no_budget_holds_nothing(conn):
    r = reserve(conn, NANO)
    assert r == Reservation(None, ()) and r.tightest is None
    assert conn.execute("SELECT count(*) FROM budget_reservations").fetchone() == (0,)


def test_expiry_releases_the_key_and_the_account_and_a_late_row_is_overshoot(path, conn):
    budgets.set_budget(conn, "key", "k1", "1", "total", now=T0)
    budgets.set_budget(conn, "account", "acme", "1", "total", now=T0)
    lost = reserve(conn, NANO)
    assert budgets.expire_holds(conn, T0 + budgets.RESERVATION_TTL) == 0
    assert reserve(conn, 1, now=T0 + budgets.RESERVATION_TTL).id is None  # still held at the TTL
    assert budgets.expire_holds(conn, T0 + budgets.RESERVATION_TTL + 1) == 1  # the proxies' writers run it
    assert conn.execute("SELECT id, expired FROM budget_reservations").fetchall() == [(lost.id, 1)]
    later = reserve(conn, NANO // 2, now=T0 + budgets.RESERVATION_TTL + 1)
    assert later.id is not None
    assert counter(conn, "key", "k1", "t") == counter(conn, "account", "acme", "t") == (0, NANO // 2, 0)
    write(path, (T0, Decimal("0.1"), lost.id, "k1"))  # the lost call's row arrives after all
    assert counter(conn, "key", "k1", "t") == counter(conn, "account", "acme", "t") == (
        NANO // 10, NANO // 2, NANO // 10)


def test_settle_defaults_to_nothing_for_an_unknown_cost_and_dates_its_threshold_event(conn):
    budgets.set_budget(conn, "account", "acme", "1", "month", now=T0)
    a, b = reserve(conn, NANO // 2), reserve(conn, NANO // 2)
    with conn.tx():
        budgets.settle(conn, a.id, None)  # no usage seen, not charge_all: costs nothing
        budgets.settle(conn, b.id, Decimal("0.9"), now=T0 + 42)
    assert counter(conn, "account", "acme", "m2026-11") == (NANO * 9 // 10, 0, NANO * 4 // 10)
    assert conn.execute("SELECT kind, ts FROM webhook_alerts").fetchall() == [("budget.threshold.80", T0 + 42)]


HALF_UPGRADED = """CREATE TABLE budget_reservations (id TEXT PRIMARY KEY, created REAL NOT NULL,
    amount_nano INTEGER NOT NULL, key_id TEXT, key_period TEXT, account TEXT, account_period TEXT,
    expired INTEGER NOT NULL DEFAULT 0, account_limit INTEGER) WITHOUT ROWID"""
OLD_COLUMNS = ["id", "created", "amount_nano", "key_id", "key_period", "account", "account_period", "expired",
               "account_limit"]


def columns(db, table):
    conn = sqlite3.connect(db)
    try:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


def test_a_half_upgraded_reservations_table_is_completed(tmp_path):
    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    old.execute(HALF_UPGRADED)  # account_limit added, key_limit not
    old.close()
    open_store(tmp_path / "old.db").close()
    assert columns(tmp_path / "old.db", "budget_reservations") == OLD_COLUMNS + ["key_limit"]


def test_a_failed_upgrade_leaves_the_reservations_table_as_it_was(tmp_path):
    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    old.execute(HALF_UPGRADED)
    # a later step of the same upgrade cannot run: the rename of monthly_usage.account_id
    old.execute("CREATE TABLE monthly_usage (account_id TEXT, account TEXT, month TEXT, calls INTEGER)")
    old.close()
    with pytest.raises(sqlite3.OperationalError) as e:
        open_store(tmp_path / "old.db")
    assert str(e.value) == "error in table monthly_usage after rename: duplicate column name: account"
    assert columns(tmp_path / "old.db", "budget_reservations") == OLD_COLUMNS  # rolled back: key_limit not added
    locked = sqlite3.connect(tmp_path / "old.db", isolation_level=None, timeout=0)
    locked.execute("BEGIN IMMEDIATE")  # no transaction was left open holding the file
    locked.execute("ROLLBACK")
    locked.close()
