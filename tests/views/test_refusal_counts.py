"""Refusals by a budget and by permission have their own counts, equal in the session
summary, `report` (table and JSON), the daily sums the dashboard reads and its counters."""

import json
import sqlite3
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from rich.console import Console

from aispendtrack.cli.report import report_command
from aispendtrack.store import open_store
from aispendtrack.store.db import utcnow
from aispendtrack.store.reads import daily
from aispendtrack.store.reads.report import ledger_groups
from aispendtrack.views.render import render_report
from aispendtrack.views.report import assemble, report
from aispendtrack.views.stats import build_summary, summary_text
from support.store_reads import insert, row

NOW = utcnow()
REFUSALS = [
    row(NOW, outcome="budget_exceeded", status=429),  # over a budget
    row(NOW, outcome="budget_exceeded", status=403, model="my-private-model"),  # unpriced under a budget
    row(NOW, outcome="forbidden", status=403),  # a model outside the key's list
    row(NOW, outcome="forbidden", status=403, key="key_b"),  # a key without `calls`
    row(NOW, outcome="forbidden", status=403, key="key_b"),
    row(NOW, outcome="rate_limited", status=429),
    row(NOW, outcome="rejected", status=401, key=None),
    row(NOW, cost="0.5", inp=10, out=1),
]
COUNTS = {"calls": 8, "forwarded": 1, "rejected": 1, "rate_limited": 1, "quota_exceeded": 0, "budget_exceeded": 2,
          "forbidden": 3, "unmetered_calls": 0}


def picked(totals: dict) -> dict:
    return {name: totals[name] for name in COUNTS}


def test_report_json_counts_each_kind_of_refusal(store):
    insert(store, REFUSALS)
    assert picked(report(store).to_dict()["totals"]) == COUNTS
    out = CliRunner().invoke(report_command, ["--json", "--by", "key"], obj={"db_path": store.target}).output
    data = json.loads(out)
    assert picked(data["totals"]) == COUNTS
    by_key = {g["key"]: g for g in data["groups"]}
    assert (by_key["key_b"]["forbidden"], by_key["key_a"]["forbidden"], by_key["key_a"]["budget_exceeded"]) == (2, 1, 2)


def test_session_summary_counts_them_as_report_does(store):
    insert(store, REFUSALS)
    stats = build_summary(REFUSALS)
    assert stats.totals == report(store).totals
    text = summary_text(stats)
    assert "1 rejected, 2 budget refused, 3 forbidden)" in text
    assert "key_b (_b): 2 calls, —, 2 forbidden" in text


@pytest.mark.period
def test_daily_sums_count_them_as_report_does(store):
    insert(store, REFUSALS)
    midnight = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    for by in ("day", "model", "key", "member"):
        got = report(store, since=midnight, until=midnight + timedelta(days=1), by=by, account="acme").to_dict()
        with store.connection() as conn:
            ledger = ledger_groups(conn, by, midnight, midnight + timedelta(days=1), account="acme")
        assert got == assemble(ledger, since=midnight, until=midnight + timedelta(days=1), by=by,
                               account="acme").to_dict()
    assert picked(got["totals"]) == COUNTS


@pytest.mark.period
def test_sums_made_before_these_counts_existed_are_made_again(tmp_path):
    """A database of a release whose daily sums lack the new columns: made again from the
    ledger by the schema migration, not read as 0."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    columns = list(REFUSALS[0])
    conn.execute(f"CREATE TABLE calls (id INTEGER PRIMARY KEY, {', '.join(columns)})")
    conn.executemany(f"INSERT INTO calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                     [[r[c] for c in columns] for r in REFUSALS])
    old = [c for c in daily.COUNTS if c not in ("budget_exceeded", "forbidden")]
    conn.execute(f"CREATE TABLE calls_daily (account TEXT NOT NULL, day TEXT NOT NULL, grp TEXT NOT NULL, "
                 f"key_id TEXT, model TEXT, {', '.join(c + ' INTEGER' for c in old)}, cost_usd TEXT NOT NULL, "
                 "PRIMARY KEY (account, day, grp)) WITHOUT ROWID")
    conn.execute("CREATE TABLE calls_daily_mark (one INTEGER PRIMARY KEY CHECK (one = 0), upto INTEGER)")
    conn.execute("INSERT INTO calls_daily_mark VALUES (0, (SELECT MAX(id) FROM calls))")  # all folded in
    conn.close()
    midnight = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    with open_store(path) as s:
        totals = report(s, since=midnight, until=midnight + timedelta(days=1), by="day", account="acme").totals
    assert (totals.budget_exceeded, totals.forbidden, totals.calls) == (2, 3, 8)


@pytest.mark.period
def test_dashboard_counters(store, config):
    from aispendtrack.serve.dashboard import view

    store.create_account("acme", "pro")
    store.create_key("acme", config)
    insert(store, REFUSALS)
    counts = view.live(store, config, SimpleNamespace(account="acme"), now=NOW.timestamp())["counts"]  # the rows' month, whatever the date
    assert (counts["budget_exceeded"], counts["forbidden"], counts["limited"], counts["calls"]) == ("2", "3", "1", "8")


def test_report_table_shows_them(store):
    insert(store, REFUSALS)
    out = StringIO()
    Console(file=out, width=140).print(render_report(report(store, by="key")))
    text = " ".join(out.getvalue().split())
    assert "budget refused 2" in text and "forbidden (403) 3" in text
    key_b = next(line.split() for line in out.getvalue().splitlines() if line.startswith("key_b"))
    assert key_b[-1] == "2"  # its forbidden column


def test_nothing_refused_so_no_extra_columns(store):
    insert(store, [row(NOW, cost="0.5")])
    out = StringIO()
    Console(file=out, width=140).print(render_report(report(store, by="key")))
    assert "bud-" not in out.getvalue() and "for-" not in out.getvalue()
