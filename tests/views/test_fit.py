"""`report` and `top --once` in a pipe or a narrow terminal: a table when it fits, one block
per row when it does not, never a name or number wrapped or cut; budgets shown by both, and
carried by `report --json`."""

import json
import re
import time
from datetime import timedelta

import pytest

from aispendtrack.limits.budget import to_nano
from aispendtrack.store import budgets, open_store
from aispendtrack.store.db import connect, utcnow
from aispendtrack.views.formats import fmt_usd
from support.store_reads import insert, row

ACCOUNT = "a-rather-long-account-name"
MODEL = "claude-3-5-haiku-20241022-extended"


@pytest.fixture
def busy(run):
    run("accounts", "create", ACCOUNT, "--tier", "pro")
    key = json.loads(run("keys", "create", ACCOUNT, "--name", "build-server-eu-west", "--json").output)
    run("accounts", "budget", ACCOUNT, "--usd", "25", "--period", "month")
    run("keys", "budget", key["id"], "--usd", "5", "--period", "day")
    with open_store(run.db) as store:
        insert(store, [row(utcnow() - timedelta(seconds=20), key=key["id"], account=ACCOUNT, model=MODEL, cost="1.25",
                           inp=123_456, out=98_765, cached=4_321, reasoning=1_000)])  # fmt: skip
        with store.connection() as conn, conn.tx():  # the proxy's path: hold $1 before the call, settle its real cost after
            held = budgets.reserve(conn, key_id=key["id"], account=ACCOUNT, charge=budgets.Charge(to_nano("1")),
                                   now=time.time())
            budgets.settle(conn, held.id, "1.25")
    return key


@pytest.mark.parametrize("width", [200, 60])
@pytest.mark.parametrize("command", [("report", "--by", "key"), ("report", "--by", "model"), ("top", "--once")])
def test_never_cuts_a_name_or_number(run, busy, monkeypatch, width, command):
    monkeypatch.setenv("COLUMNS", str(width))
    text = run(*command).output
    assert max(len(line) for line in text.splitlines()) <= width
    assert "$1.25" in text and "123.5k" in text
    assert (MODEL if command[-1] != "key" else busy["id"]) in text
    assert ("1 call in the last minute" in " ".join(text.split())) == (command[0] == "top")
    assert "budgets" in text and f"account {ACCOUNT}" in text and f"key {busy['id']} build-server-eu-west" in text
    assert "$1.25 (5%)" in text and "$1.25 (25%)" in text  # spent of the $25 month, the $5 day
    assert "over bounds" in text and "$0.25" in text  # cost beyond the hold, shown
    assert "$25" in text and "$5" in text and "month" in text and "day" in text
    assert not re.search(r"\d\d:\d\d:\d\d[.,]\d", text)  # times to the second
    blocks = f"\n  calls" in text or "\n  window" in text
    assert blocks == (width == 60 and command != ("report", "--by", "key"))  # vertical only when even compact is too wide


def test_budgets_only_for_what_has_one(run, monkeypatch):
    run("accounts", "create", "plain")
    monkeypatch.setenv("COLUMNS", "200")
    connect(run.db)["calls"].insert_all([row(account="plain", key=None, cost="0.5")])
    assert "budgets" not in run("report").output
    run("accounts", "budget", "plain", "--usd", "3", "--period", "week")
    text = run("report").output
    assert "budgets" in text and "account plain" in text and "$3" in text and "week" in text
    assert "budgets" not in run("report", "--account", "someone-else").output


def test_report_json_carries_the_budgets_the_table_shows(run, busy, monkeypatch):
    from aispendtrack.views.budgets import who

    monkeypatch.setenv("COLUMNS", "200")
    text = run("report").output
    entries = json.loads(run("report", "--json").output)["budgets"]
    assert [(e["scope"], e["subject"], e["account"], e["name"]) for e in entries] == [
        ("account", ACCOUNT, ACCOUNT, None), ("key", busy["id"], ACCOUNT, "build-server-eu-west")]
    assert [(e["limit_usd"], e["period"], e["spent_usd"], e["overshoot_usd"], e["source"]) for e in entries] == [
        ("25", "month", "1.25", "0.25", "own"), ("5", "day", "1.25", "0.25", "own")]
    for e in entries:  # the same rows as the table
        assert who(e) in text and f"{fmt_usd(e['spent_usd'])} (" in text and f"{fmt_usd(e['limit_usd'])} " in text
    same = [{**e, "reset_seconds": None} for e in entries]  # a second may pass between the two runs
    assert [{**e, "reset_seconds": None} for e in json.loads(run("report", "--json", "--account", ACCOUNT)
                                                              .output)["budgets"]] == same
    assert json.loads(run("report", "--json", "--account", "someone-else").output)["budgets"] == []
    assert json.loads(run("report", "--json", "--key", busy["id"]).output)["budgets"] == []
    assert "budgets" not in run("report", "--key", busy["id"]).output

