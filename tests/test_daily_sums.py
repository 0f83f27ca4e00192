"""The daily sums say what the ledger says, on both engines: kept by the ledger writer's
transaction (`daily.add_rows`) whatever the batches, made again from the ledger by the
schema migration, read back by `report` for whole days (the ledger only for partial days)."""

import sqlite3
import threading
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aispendtrack.store import open_store
from aispendtrack.store.db import iso
from aispendtrack.store.reads import daily
from aispendtrack.store.reads import report as reads
from aispendtrack.store.sqlite.schema import MIGRATIONS, _daily_provider, v3
from aispendtrack.views.report import assemble, report
from aispendtrack_dev.synth import make_ledger
from support.store_reads import insert, open_engine, row

START = datetime(2026, 10, 20, tzinfo=UTC)


def _sums(store, by, account=None, member_id=None):
    with store.connection() as conn:
        return sorted(daily.groups(conn, by, None, None, account=account, member_id=member_id), key=repr)


def _ledger(store, by, account=None, member_id=None):
    with store.connection() as conn:
        return sorted(reads.ledger_groups(conn, by, None, None, account=account, member_id=member_id), key=repr)


def _as_report(parts, by):
    return assemble(parts, since=None, until=None, by=by).to_dict()


@pytest.mark.parametrize("by", ["model", "key", "day", "account", "provider"])
def test_sums_equal_the_ledger_after_batches(any_store, by):
    make_ledger(any_store, 1500, seed=3, start=START, days=30, batch=400)
    make_ledger(any_store, 700, seed=4, start=START + timedelta(days=10), days=25, batch=300)  # late rows, old days
    for account in (None, "acct-0", "acct-3"):
        assert _as_report(_sums(any_store, by, account), by) == _as_report(_ledger(any_store, by, account), by)


def test_a_report_of_whole_days_equals_one_from_the_ledger(any_store):
    make_ledger(any_store, 1200, seed=5, start=START, days=20)
    for first, last in ((date(2026, 10, 20), date(2026, 11, 8)), (date(2026, 11, 1), date(2026, 11, 3))):
        since = datetime.combine(first, time(), UTC)
        until = datetime.combine(last + timedelta(days=1), time(), UTC)
        with any_store.connection() as conn:
            ledger = reads.ledger_groups(conn, "model", since, until, account="acct-0")
        expected = assemble(ledger, since=since, until=until, by="model", account="acct-0").to_dict()
        assert report(any_store, since=since, until=until, by="model", account="acct-0").to_dict() == expected


def _members(store, account, people):
    """Give the account's keys in the ledger to members (people[i % len]: None = no member)."""
    store.create_account(account, "enterprise")
    ids = sorted({r.key_id for r in store.export_rows(account=account)})
    with store.connection() as conn, conn.tx():
        acct = conn.execute("SELECT id FROM accounts WHERE name = ?", [account]).fetchone()[0]
        mids = {}
        for name in {p for p in people if p}:
            conn.execute("INSERT INTO members (account_id, name, role, created) VALUES (?, ?, 'member', ?)",
                         [acct, name, iso(START)])
            mids[name] = conn.execute("SELECT id FROM members WHERE name = ?", [name]).fetchone()[0]
        for i, key_id in enumerate(ids):
            person = people[i % len(people)]
            conn.execute("INSERT INTO keys (id, account_id, created, member_id) VALUES (?, ?, ?, ?)",
                         [key_id, acct, iso(START), mids.get(person)])
    return mids


def test_by_member_and_for_one_member(any_store):
    """The dashboard's spend per member and a member's own view come from the sums: the same
    as the ledger's, keys without a member included (the report's "(none)" group)."""
    make_ledger(any_store, 800, seed=6, start=START, days=20)
    mids = _members(any_store, "acct-0", ["ann", "bob", None])
    got = _as_report(_sums(any_store, "member", "acct-0"), "member")
    assert {g["member"] for g in got["groups"]} == {"ann", "bob", None}
    assert got == _as_report(_ledger(any_store, "member", "acct-0"), "member")
    mine = _as_report(_sums(any_store, "model", "acct-0", mids["ann"]), "model")
    assert 0 < mine["totals"]["calls"] < got["totals"]["calls"]
    assert mine == _as_report(_ledger(any_store, "model", "acct-0", mids["ann"]), "model")


def _row(day: int, cost, model="m", key="k1", tokens=None, outcome="forwarded", account="acme"):
    return {"ts": iso(START + timedelta(days=day, seconds=5)), "key_id": key, "account": account, "model": model,
            "outcome": outcome, "status": 200, "input_tokens": tokens, "output_tokens": tokens, "cost_usd": cost,
            "pricing": "priced" if cost is not None else "unpriced"}


COSTS = st.one_of(st.none(), st.decimals(min_value=0, max_value=5000, places=15).map(str),
                  st.sampled_from(["0.1", "1E-7", "999.999999999999"]))
BATCHES = st.lists(st.lists(st.tuples(st.integers(0, 3), COSTS, st.sampled_from(["m", "n", None]),
                                      st.sampled_from(["k1", "k2", None]), st.one_of(st.none(), st.integers(0, 9)),
                                      st.sampled_from(["forwarded", "budget_exceeded", "forbidden", "aborted"]),
                                      st.sampled_from(["acme", None])),
                            max_size=8), min_size=1, max_size=4)


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=BATCHES)
def test_random_batches_sum_exactly(tmp_path_factory, engine, batches):
    """Daily sums after random batches (exact money, unknown tokens, NULL keys, models and
    accounts) == the ledger's own aggregate, by every dimension the sums keep."""
    with open_engine(engine, tmp_path_factory.mktemp("sums")) as s:
        for batch in batches:
            insert(s, [_row(*b) for b in batch])
        for by in ("model", "key", "day", "account", "provider"):
            assert _as_report(_sums(s, by), by) == _as_report(_ledger(s, by), by)


def test_concurrent_writers_count_every_row_once(any_store):
    """Writers on their own connections add to the same new groups at once: no row lost or
    counted twice (PostgreSQL: the group a writer finds made meanwhile is merged into)."""
    errors = []

    def write(i):
        try:
            for _ in range(30):
                insert(any_store, [_row(0, "0.000001", key=f"k{i % 2}"), _row(1, "0.000001", key="k0")])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = _as_report(_sums(any_store, "key"), "key")
    assert got["totals"]["calls"] == 360 and got["totals"]["cost_usd"] == "0.00036"
    assert got == _as_report(_ledger(any_store, "key"), "key")


def test_report_reads_whole_days_from_the_sums_and_edges_from_the_ledger(store):
    """Where each part of a period comes from: a whole day's sums are what the report says
    (the ledger rows of that day are not read), a partial day is the ledger's."""
    insert(store, [row(START + timedelta(days=d, hours=12), cost="1") for d in range(3)])
    with store.connection() as conn, conn.tx():
        conn.execute("UPDATE calls_daily SET calls = 100 WHERE day = ?", [(START + timedelta(days=1)).date().isoformat()])
    whole = report(store, since=START, until=START + timedelta(days=3), by="model")
    assert whole.totals.calls == 102
    edges = report(store, since=START + timedelta(hours=6), until=START + timedelta(days=2, hours=18), by="model")
    assert edges.totals.calls == 102  # the first and the last day from the ledger, the middle one summed
    inside = report(store, since=START + timedelta(days=1, hours=1), until=START + timedelta(days=1, hours=23))
    assert inside.totals.calls == 1  # within one day: the ledger
    assert report(store, by="provider").totals.calls == 102  # kept by the sums too: whole days from them
    assert report(store, by="status").totals.calls == 3  # a dimension the sums do not keep: the ledger


def test_migration_rebuilds_the_sums_of_an_older_database(tmp_path):
    """A database of the release that folded the sums in by row id (version 1, a mark,
    sums behind the ledger) gets sums equal to the ledger and loses the mark."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    from aispendtrack.store.sqlite.conn import SqliteConn
    from aispendtrack.store.migrate import migrate

    migrate(SqliteConn(conn), MIGRATIONS[:1])
    v3(SqliteConn(conn))  # the sums' columns of today, so that today's writer can stand in for the old one
    _daily_provider(SqliteConn(conn))
    old = open_store(path, migrate_schema=False)
    make_ledger(old, 600, seed=9, start=START, days=10)  # writes its sums as the new writer does …
    conn.execute("DELETE FROM calls_daily WHERE day > ?", [(START + timedelta(days=4)).date().isoformat()])
    conn.execute("INSERT INTO calls_daily_mark VALUES (0, 300)")  # … then made stale, as before
    old.close()
    conn.close()
    with open_store(path) as s:
        with s.connection() as c:
            tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
            assert c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == MIGRATIONS[-1].version
        assert "calls_daily_mark" not in tables
        for by in ("model", "key", "day", "account", "provider"):
            assert _as_report(_sums(s, by), by) == _as_report(_ledger(s, by), by)


def test_rebuild_makes_the_sums_of_the_whole_ledger(any_store):
    """The migration's rebuild, on both engines: sums of rows written without them."""
    rows = [_row(d % 4, c, model=m, key=k, tokens=t, account=a)
            for d, (c, m, k, t, a) in enumerate([("0.1", "m", "k1", 3, "acme"), (None, None, "k2", None, None),
                                                  ("1234.5678901234567", "n", None, 1, "acme"), ("1E-7", "m", "k1", 0, "b")] * 5)]
    with any_store.connection() as conn, conn.tx():
        for r in rows:
            conn.insert(f"INSERT INTO calls ({', '.join(r)}) VALUES ({', '.join('?' * len(r))})", list(r.values()))
        assert daily.rebuild(conn) > 0
    for by in ("model", "key", "day", "account", "provider"):
        assert _as_report(_sums(any_store, by), by) == _as_report(_ledger(any_store, by), by)


LOCAL_ROWS = [
    row(model="llama3.2", provider="ollama", pricing="local", cost="0", inp=26, out=282),
    row(model="llama3.2", provider="ollama", pricing="local", cost="0", inp=None, out=282, key="key_b"),
    row(model="gpt-4o", cost="0.25", inp=1, out=1),
    row(model="llama3.2", provider="ollama", pricing="unpriced", inp=5, out=5),
]


def test_local_calls_are_counted_apart_at_zero_cost(any_store):
    """A local call adds $0 and counts as local: not priced, not unpriced; sums and ledger agree."""
    insert(any_store, LOCAL_ROWS)
    for by in ("model", "key", "day", "account", "provider"):
        assert _as_report(_sums(any_store, by), by) == _as_report(_ledger(any_store, by), by)
    totals = report(any_store, by="model").totals
    assert (totals.local_calls, totals.priced_calls, totals.unpriced_calls) == (2, 1, 1)
    assert totals.cost_usd == Decimal("0.25") and totals.input_tokens == 26 + 1 + 5


def test_a_version_2_database_gets_the_local_count_at_zero(tmp_path):
    """Sums made before local calls existed read on, with 0 local calls, after the migration."""
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    from aispendtrack.store.sqlite.conn import SqliteConn
    from aispendtrack.store.migrate import migrate

    migrate(SqliteConn(conn), MIGRATIONS[:2])
    old = open_store(path, migrate_schema=False)
    insert(old, [r for r in LOCAL_ROWS if r["pricing"] != "local"])
    old.close()
    conn.execute("ALTER TABLE calls_daily DROP COLUMN local_calls")  # as the release before it made them
    conn.close()
    with open_store(path) as s:
        assert s.schema_versions() == (MIGRATIONS[-1].version,) * 2
        assert _as_report(_sums(s, "model"), "model") == _as_report(_ledger(s, "model"), "model")
        insert(s, [r for r in LOCAL_ROWS if r["pricing"] == "local"])
        assert report(s, by="model").totals.local_calls == 2
        assert _as_report(_sums(s, "key"), "key") == _as_report(_ledger(s, "key"), "key")
