"""The daily sums say what `report` says for the same day-aligned period, however the
ledger grew between catch-ups (incremental folding, exact money, unknown tokens)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aispendtrack.store import db as dbmod
from aispendtrack.store.db import iso
from aispendtrack.views import rollup
from aispendtrack.views.report import report
from aispendtrack_dev.synth import make_ledger

START = datetime(2026, 10, 20, tzinfo=UTC)


def _report(database, account, first: date, last: date, by):
    since = datetime.combine(first, time(), UTC)
    return report(database, since=since, until=since + timedelta(days=(last - first).days + 1), by=by,
                  account=account).to_dict()


@pytest.mark.parametrize("by", ["model", "key", "day"])
def test_equals_report_after_incremental_catch_ups(database, by):
    rollup.ensure_schema(database)
    make_ledger(database, 1500, seed=3, start=START, days=30)
    assert rollup.catch_up(database) == 1500
    make_ledger(database, 700, seed=4, start=START + timedelta(days=10), days=25)  # late rows for old days too
    assert rollup.catch_up(database) == 700
    assert rollup.catch_up(database) == 0
    for account in ("acct-0", "acct-3"):
        for first, last in ((date(2026, 10, 20), date(2026, 11, 18)), (date(2026, 11, 1), date(2026, 11, 10))):
            assert rollup.report_from_days(database, account, first, last, by).to_dict() == \
                _report(database, account, first, last, by)



@pytest.mark.parametrize("by", ["model", "day"])  # by key, report labels keys from the full key store
def test_a_members_sums_equal_report_for_that_member(database, by):
    rollup.ensure_schema(database)
    make_ledger(database, 800, seed=5, start=START, days=20)
    rollup.catch_up(database)
    database.execute("DROP TABLE IF EXISTS keys")  # the ledger's synthetic keys, with the columns the filter reads
    database.execute("CREATE TABLE keys (id TEXT PRIMARY KEY, member_id INTEGER)")
    ids = sorted(r[0] for r in database.execute("SELECT DISTINCT key_id FROM calls WHERE account = 'acct-0'"))
    database.conn.executemany("INSERT INTO keys VALUES (?, ?)", [(k, 7 if i % 2 else 8) for i, k in enumerate(ids)])
    first, last = date(2026, 10, 20), date(2026, 11, 8)
    since = datetime.combine(first, time(), UTC)
    whole = rollup.report_from_days(database, "acct-0", first, last, by)
    mine = rollup.report_from_days(database, "acct-0", first, last, by, member_id=7)
    assert 0 < mine.totals.calls < whole.totals.calls
    assert mine.to_dict() == report(database, since=since, until=since + timedelta(days=20), by=by,
                                    account="acct-0", member_id=7).to_dict()

def test_sums_by_member_equal_report_by_member(database):
    """The dashboard's spend per member comes from the daily sums: the same as `report --by member`,
    keys without a member included (as the report's "(none)" group)."""
    rollup.ensure_schema(database)
    make_ledger(database, 800, seed=6, start=START, days=20)
    rollup.catch_up(database)
    database.execute("DROP TABLE IF EXISTS keys")
    database.execute("CREATE TABLE keys (id TEXT PRIMARY KEY, member_id INTEGER)")
    database.execute("DROP TABLE IF EXISTS members")
    database.execute("CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT)")
    database.conn.executemany("INSERT INTO members VALUES (?, ?)", [(7, "ann"), (8, "bob")])
    ids = sorted(r[0] for r in database.execute("SELECT DISTINCT key_id FROM calls WHERE account = 'acct-0'"))
    database.conn.executemany("INSERT INTO keys VALUES (?, ?)", [(k, (7, 8, None)[i % 3]) for i, k in enumerate(ids)])
    first, last = date(2026, 10, 20), date(2026, 11, 8)
    got = rollup.report_from_days(database, "acct-0", first, last, "member")
    assert [g.key for g in got.groups if g.key.member] and None in [g.key.member for g in got.groups]
    assert got.to_dict() == _report(database, "acct-0", first, last, "member")


def _row(day: int, cost, model="m", key="k1", tokens=None, outcome="forwarded"):
    ts = START + timedelta(days=day, seconds=5)
    return {"ts": iso(ts), "key_id": key, "account": "acme", "model": model, "outcome": outcome, "status": 200,
            "input_tokens": tokens, "output_tokens": tokens, "cost_usd": cost,
            "pricing": "priced" if cost is not None else "unpriced"}


COSTS = st.one_of(st.none(), st.decimals(min_value=0, max_value=5000, places=15).map(str),
                  st.sampled_from(["0.1", "1E-7", "999.999999999999"]))


@settings(max_examples=25, deadline=None)
@given(batches=st.lists(st.lists(st.tuples(st.integers(0, 3), COSTS, st.sampled_from(["m", "n", None]),
                                           st.sampled_from(["k1", "k2"]), st.one_of(st.none(), st.integers(0, 9)),
                                           st.sampled_from(["forwarded", "budget_exceeded", "forbidden"])),
                                 max_size=8), min_size=1, max_size=4))
def test_exact_money_and_unknown_tokens(tmp_path_factory, batches):
    database = dbmod.connect(tmp_path_factory.mktemp("rollup") / "l.db")
    from aispendtrack.store import ledger_schema

    ledger_schema.ensure_schema(database)
    rollup.ensure_schema(database)
    for batch in batches:
        if batch:
            database["calls"].insert_all([_row(*b) for b in batch])
        rollup.catch_up(database)
    first, last = START.date(), START.date() + timedelta(days=3)
    for by in ("model", "key", "day"):
        assert rollup.report_from_days(database, "acme", first, last, by).to_dict() == \
            _report(database, "acme", first, last, by)
    database.conn.close()


def test_the_mark_is_shared_by_every_connection(database):
    rollup.ensure_schema(database)
    make_ledger(database, 200, seed=1, start=START, days=5)
    other = dbmod.connect(database.conn.execute("PRAGMA database_list").fetchone()[2])
    assert rollup.catch_up(other) == 200
    assert rollup.catch_up(database) == 0
    got = rollup.report_from_days(database, "acct-1", START.date(), START.date() + timedelta(days=5), "day")
    assert got.totals.calls == _report(database, "acct-1", START.date(), START.date() + timedelta(days=5),
                                       "day")["totals"]["calls"]
    other.conn.close()
