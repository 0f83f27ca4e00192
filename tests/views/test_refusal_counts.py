"""Refusals by a budget and by permission have their own counts, equal in the session
summary, `report` (table and JSON), the daily sums the dashboard reads and its counters."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from click.testing import CliRunner
from rich.console import Console

from aispendtrack.cli.report import report_command
from aispendtrack.store.db import utcnow
from aispendtrack.views import rollup
from aispendtrack.views.render import render_report
from aispendtrack.views.report import report
from aispendtrack.views.stats import build_summary, summary_text
from support.report_rows import insert, row

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


def test_report_json_counts_each_kind_of_refusal(db_path, database):
    insert(database, REFUSALS)
    assert picked(report(database).to_dict()["totals"]) == COUNTS
    out = CliRunner().invoke(report_command, ["--json", "--by", "key"], obj={"db_path": str(db_path)}).output
    data = json.loads(out)
    assert picked(data["totals"]) == COUNTS
    by_key = {g["key"]: g for g in data["groups"]}
    assert (by_key["key_b"]["forbidden"], by_key["key_a"]["forbidden"], by_key["key_a"]["budget_exceeded"]) == (2, 1, 2)


def test_session_summary_counts_them_as_report_does(database):
    insert(database, REFUSALS)
    stats = build_summary(REFUSALS)
    assert stats.totals == report(database).totals
    text = summary_text(stats)
    assert "1 rejected, 2 budget refused, 3 forbidden)" in text
    assert "key_b (_b): 2 calls, —, 2 forbidden" in text


@pytest.mark.period
def test_daily_sums_count_them_as_report_does(database):
    rollup.ensure_schema(database)
    insert(database, REFUSALS)
    rollup.catch_up(database)
    today = NOW.date()
    for by in ("day", "model", "key"):
        got = rollup.report_from_days(database, "acme", today, today, by).to_dict()
        assert got == report(database, since=NOW.replace(hour=0, minute=0, second=0, microsecond=0),
                             until=NOW.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1),
                             by=by, account="acme").to_dict()
    assert picked(got["totals"]) == COUNTS


@pytest.mark.period
def test_sums_made_before_these_counts_existed_are_made_again(database):
    """A database whose daily sums lack the new columns: rebuilt from the ledger, not read as 0."""
    insert(database, REFUSALS)
    old = [c for c in rollup._COUNTS if c not in ("budget_exceeded", "forbidden")]
    database.execute(f"CREATE TABLE calls_daily (account TEXT NOT NULL, day TEXT NOT NULL, grp TEXT NOT NULL, "
                     f"key_id TEXT, model TEXT, {', '.join(c + ' INTEGER' for c in old)}, cost_usd TEXT NOT NULL, "
                     "PRIMARY KEY (account, day, grp)) WITHOUT ROWID")
    database.execute("CREATE TABLE calls_daily_mark (one INTEGER PRIMARY KEY CHECK (one = 0), upto INTEGER)")
    database.execute("INSERT INTO calls_daily_mark VALUES (0, (SELECT MAX(id) FROM calls))")  # all folded in
    rollup.ensure_schema(database)
    assert rollup.catch_up(database) == len(REFUSALS)
    today = NOW.date()
    totals = rollup.report_from_days(database, "acme", today, today, "day").totals
    assert (totals.budget_exceeded, totals.forbidden, totals.calls) == (2, 3, 8)
    rollup.ensure_schema(database)  # up to date: kept
    assert rollup.catch_up(database) == 0


@pytest.mark.period
def test_dashboard_counters(database, config):
    from aispendtrack.serve.dashboard import view
    from aispendtrack.store import keycache, keys

    keys.create_account(database, "acme", "pro")
    record = keycache.lookup_one(database, config, keys.create_key(database, "acme", config).key).record
    rollup.ensure_schema(database)
    insert(database, REFUSALS)
    counts = view.live(database, config, record, now=NOW.timestamp())["counts"]  # the rows' month, whatever the date
    assert (counts["budget_exceeded"], counts["forbidden"], counts["limited"], counts["calls"]) == ("2", "3", "1", "8")


def test_report_table_shows_them(database):
    insert(database, REFUSALS)
    out = StringIO()
    Console(file=out, width=140).print(render_report(report(database, by="key")))
    text = " ".join(out.getvalue().split())
    assert "budget refused 2" in text and "forbidden (403) 3" in text
    key_b = next(line.split() for line in out.getvalue().splitlines() if line.startswith("key_b"))
    assert key_b[-1] == "2"  # its forbidden column


def test_nothing_refused_so_no_extra_columns(database):
    insert(database, [row(NOW, cost="0.5")])
    out = StringIO()
    Console(file=out, width=140).print(render_report(report(database, by="key")))
    assert "bud-" not in out.getvalue() and "for-" not in out.getvalue()
