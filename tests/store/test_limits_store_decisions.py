"""Every field of the `Decision` that the store's `admit` returns, exactly, for the
refusals (budget, monthly with the hourly window open, hourly with no quota, a lowered
hourly limit); a failure inside the transaction rolls both counters back; and pruning of
all keys keeps every event still in a window."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from aispendtrack.limits.budget import NANO
from aispendtrack.limits.window import Decision, Usage
from aispendtrack.store import limits as store
from aispendtrack.store import open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.budgets import Charge


def ep(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


T0 = ep(2026, 11, 26, 9, 0, 0)
NOW = ep(2026, 11, 30, 12, 0, 0) + 0.25  # 11 h 59 min 59.75 s before December (UTC)
DEC_1 = ep(2026, 12, 1)


@pytest.fixture()
def db(tmp_path):
    with open_store(tmp_path / "decisions.db") as store:
        yield store


def cc(db, key, hourly, monthly, now, charge=None, account="acme"):
    return db.admit(Admission(key, account, hourly, monthly, now, charge))


def refused(**fields) -> Decision:
    """A refusal of key_ab12 of acme in November 2026 with no budget; `fields` replace the rest."""
    base = Decision(admitted=False, limit=None, retry_after=None, should_retry=False, now=0.0, retry_at=None,
                    key_id="key_ab12", account="acme", month="2026-11", hourly_limit=None,
                    hourly_remaining=None, hourly_reset=None, monthly_limit=None, monthly_remaining=None,
                    monthly_reset=None)
    return replace(base, **fields)


def test_budget_refusal_with_counted_calls(db):
    db.set_budget("key", "key_ab12", "1", "month", now=NOW - 60)
    assert cc(db, "key_ab12", 5, 10, NOW, Charge(6 * NANO // 10)).admitted
    d = cc(db, "key_ab12", 5, 10, NOW + 1, Charge(NANO // 2))
    assert d.budget.id is None and d.budget.refused_by.reset_at == DEC_1
    assert d == refused(limit="budget", retry_after=43199, now=NOW + 1, retry_at=DEC_1,
                        hourly_limit=5, hourly_remaining=4, hourly_reset=NOW + 3600,  # the first call leaves
                        monthly_limit=10, monthly_remaining=9, monthly_reset=DEC_1, budget=d.budget)


def test_budget_refusal_of_the_first_call(db):
    db.set_budget("key", "key_ab12", "0", "month", now=NOW - 60)
    d = cc(db, "key_ab12", 5, 10, NOW, Charge(1))
    assert d == refused(limit="budget", retry_after=43200, now=NOW, retry_at=DEC_1,
                        hourly_limit=5, hourly_remaining=5, hourly_reset=NOW,  # nothing counted
                        monthly_limit=10, monthly_remaining=10, monthly_reset=DEC_1, budget=d.budget)


def test_budget_refusal_by_a_total_budget_without_request_limits(db):
    db.set_budget("account", "acme", "0", "total", now=NOW - 60)
    d = cc(db, "key_ab12", None, None, NOW, Charge(1))
    assert d.budget.refused_by.reset_at is None
    assert d == refused(limit="budget", now=NOW, budget=d.budget)  # never resets: no retry time


def test_monthly_refusal_keeps_the_hourly_window_fields(db):
    assert cc(db, "key_ab12", 5, 2, T0).admitted and cc(db, "key_ab12", 5, 2, T0 + 10).admitted
    d = cc(db, "key_ab12", 5, 2, T0 + 20)
    to_december = int(DEC_1 - T0 - 20)
    assert d == refused(limit="monthly", retry_after=to_december, now=T0 + 20, retry_at=DEC_1,
                        hourly_limit=5, hourly_remaining=3, hourly_reset=T0 + 3600,
                        monthly_limit=2, monthly_remaining=0, monthly_reset=DEC_1)
    other = cc(db, "key_cd34", 5, 2, T0 + 30)  # same account, a key with nothing counted
    assert other == refused(limit="monthly", retry_after=to_december - 10, now=T0 + 30, retry_at=DEC_1,
                            key_id="key_cd34", hourly_limit=5, hourly_remaining=5, hourly_reset=T0 + 30,
                            monthly_limit=2, monthly_remaining=0, monthly_reset=DEC_1)


def test_hourly_refusal_without_a_quota(db):
    assert cc(db, "key_ab12", 1, None, T0).admitted
    d = cc(db, "key_ab12", 1, None, T0 + 100)
    assert d == refused(limit="hourly", retry_after=3500, should_retry=True, now=T0 + 100, retry_at=T0 + 3600,
                        hourly_limit=1, hourly_remaining=0, hourly_reset=T0 + 3600)


def test_lowered_hourly_limit_resets_when_the_call_keeping_it_full_leaves(db):
    for i in range(3):
        assert cc(db, "key_ab12", 3, 50, T0 + 600 * i).admitted
    d = cc(db, "key_ab12", 2, 50, T0 + 1800)
    assert d == refused(limit="hourly", retry_after=2400, should_retry=True, now=T0 + 1800, retry_at=T0 + 4200,
                        hourly_limit=2, hourly_remaining=0, hourly_reset=T0 + 4200,  # the second call's expiry
                        monthly_limit=50, monthly_remaining=47, monthly_reset=DEC_1)


class Boom(Exception):
    pass


def test_a_failure_after_counting_rolls_both_counters_back(db, monkeypatch):
    def boom(*args):
        raise Boom("queued event failed")

    monkeypatch.setattr(store, "_quota_event", boom)  # runs after both counters moved
    with pytest.raises(Boom, match="^queued event failed$"):
        cc(db, "key_ab12", 5, 1, T0)
    with db.connection() as conn:
        assert not conn.in_transaction
    assert db.usage(key_id="key_ab12", account="acme", now=T0) == Usage("key_ab12", 0, "acme", "2026-11", 0)
    monkeypatch.undo()
    assert cc(db, "key_ab12", 5, 1, T0).admitted


def test_pruning_all_keys_keeps_rows_still_in_a_window_and_drops_stale_ones(db, monkeypatch):
    monkeypatch.setattr(store, "PRUNE_MARGIN", 300.0)
    monkeypatch.setattr(store, "PRUNE_KEY_EVERY", 1000)
    monkeypatch.setattr(store, "PRUNE_ALL_EVERY", 4)
    assert cc(db, "key_idle", None, None, T0 - 1000).admitted  # stale at T0 + 3000 (beyond the margin)
    assert cc(db, "key_idle", None, None, T0 - 500).admitted  # still counts at T0 + 3000
    for _ in range(3):
        assert cc(db, "key_busy", None, None, T0 + 3000).admitted
    assert cc(db, "key_busy", None, None, T0 + 3000).admitted  # the 4th: prunes every key
    rows = "SELECT key_id, seq, ts FROM rate_events ORDER BY key_id, seq"
    with db.connection() as conn:
        stored = conn.execute(rows).fetchall()
    assert stored == [("key_busy", seq, T0 + 3000) for seq in (1, 2, 3, 4)] + [
        ("key_idle", 2, T0 - 500)]
    assert db.usage(key_id="key_idle", now=T0 + 3000).hourly_count == 1
    assert not cc(db, "key_idle", 1, None, T0 + 3000).admitted


def test_usage_of_a_key_alone_or_an_account_alone_leaves_the_other_side_none(db):
    cc(db, "k1", 10, 10, NOW)
    assert db.usage(key_id="k1", now=NOW) == Usage("k1", 1, None, "2026-11", None)
    assert db.usage(account="acme", now=NOW) == Usage(None, None, "acme", "2026-11", 1)
    assert db.usage(account="nobody", now=NOW) == Usage(None, None, "nobody", "2026-11", 0)


def test_a_failed_schema_upgrade_rolls_back_and_raises_its_own_error(tmp_path):
    """An old database (monthly_usage.account_id) whose rename cannot run: the original error
    comes out, and no transaction is left open on the file."""
    import sqlite3

    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("CREATE TABLE monthly_usage (account_id TEXT, account TEXT, month TEXT, calls INTEGER)")
    with pytest.raises(sqlite3.OperationalError, match="^error in table monthly_usage after rename: duplicate column name: account$"):
        open_store(tmp_path / "old.db")
    assert not conn.in_transaction
    assert [r[1] for r in conn.execute("PRAGMA table_info(monthly_usage)")] == ["account_id", "account", "month",
                                                                                 "calls"]
    conn.execute("BEGIN IMMEDIATE")  # nobody else holds the write lock
    conn.execute("ROLLBACK")
    conn.close()
