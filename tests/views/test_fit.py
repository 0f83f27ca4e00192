"""`report` and `top --once` in a pipe or a narrow terminal: a table when it fits, one block
per row when it does not, never a name or number wrapped or cut; budgets shown by both, and
carried by `report --json`."""

import json
import re
import time
from decimal import Decimal
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
    blocks = "\n  calls" in text or "\n  window" in text
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



# ---- every CLI table at 80 columns ---------------------------------------------------------

MEMBER = "maria.gonzalez-lopez"
HOOK = "https://93.184.215.14/aispendtrack/webhooks/northwind-analytics"  # a public literal: no DNS, nothing sent
ERROR = "connection refused: [Errno 111] Connection refused"
BLOCK = re.compile(r"^  (account|tier|keys|member|name|state|permissions|events|url|status|error|window|calls|spent)"
                   r"\s{2,}", re.M)  # a row printed as a block: what a compact table avoids


@pytest.fixture
def team(run, busy):
    run("members", "add", ACCOUNT, MEMBER, "--role", "admin")
    mine = json.loads(run("keys", "create", ACCOUNT, "--name", "notebook-of-maria-gonzalez", "--member", MEMBER,
                          "--permissions", "calls,dashboard", "--models", "claude-3-5-haiku-*,gpt-4o-mini",
                          "--json").output)
    run("keys", "revoke", json.loads(run("keys", "create", ACCOUNT, "--name", "old-laptop", "--json").output)["id"])
    run("webhooks", "add", ACCOUNT, HOOK, "--events", "key.created,key.revoked,budget.threshold")
    with open_store(run.db) as store:
        (endpoint,) = store.list_endpoints(ACCOUNT)
        store.rotate_secret(endpoint.id, 86_400)  # the old secret signs a day longer: shown in the list
        store.send_test_event(endpoint.id)
        now = time.time() + 1
        (m,) = store.claim_messages("w1", now)
        store.record_attempt(m, "w1", now, None, ERROR, 10_012)
        (message_id,) = {a.message_id for a in store.deliveries(endpoint.id)}
    return {"key": busy, "mine": mine, "endpoint": endpoint.id, "message": message_id}


COMMANDS = {
    "accounts list": (("accounts", "list"), [ACCOUNT]),
    "keys list": (("keys", "list"), [ACCOUNT, MEMBER, "build-server-eu-west", "notebook-of-maria-gonzalez", "{key}"]),
    "keys list --all": (("keys", "list", "--all"), [ACCOUNT, "old-laptop", "revoked", "{mine}"]),
    "members list": (("members", "list"), [ACCOUNT, MEMBER]),
    "webhooks list": (("webhooks", "list"), [ACCOUNT, HOOK, "{endpoint}", "budget.threshold"]),
    "webhooks deliveries": (("webhooks", "deliveries", "{endpoint}"), ["{message}", "webhook.test", "Errno"]),
    "report": (("report",), [MODEL, "$1.25"]),
    "report --by key": (("report", "--by", "key"), ["{key}", "build-server-eu-west", "$1.25"]),
    "report --by member": (("report", "--by", "member"), [f"{ACCOUNT}/owner"]),
    "top --once": (("top", "--once"), [MODEL, "build-server-eu-west", ACCOUNT, "budgets"]),
}


@pytest.mark.parametrize("name", COMMANDS)
def test_every_cli_table_fits_80_columns(run, team, monkeypatch, name):
    ids = {"key": team["key"]["id"], "mine": team["mine"]["id"], "endpoint": team["endpoint"], "message": team["message"]}
    args, tokens = COMMANDS[name]
    monkeypatch.setenv("COLUMNS", "80")
    text = run(*(a.format(**ids) for a in args)).output
    assert max(len(line) for line in text.splitlines()) <= 80, text
    for token in tokens:  # whole: never cut or broken inside a name or an id
        assert token.format(**ids) in text, (token, text)
    assert "────────" in text and not BLOCK.search(text), text  # a compact table, not blocks


def test_session_summary_fits_80_columns():
    import io

    from rich.console import Console

    from aispendtrack.views.stats import build_summary, render_summary

    stats = build_summary([{"ts": "2026-12-07T16:30:40Z", "model": MODEL, "key_id": "key_0123456789ab",
                            "key_hint": "ask_…x9Yz", "outcome": "forwarded", "cost_usd": Decimal("0.043377"),
                            "input_tokens": 123_456, "output_tokens": 98_765, "cache_read_tokens": 4_321}])
    stats.key_names["key_0123456789ab"] = "build-server-eu-west"
    out = io.StringIO()
    Console(file=out, width=80).print(render_summary(stats))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80, text
    for token in (MODEL, "key_0123456789ab", "build-server-eu-west", "$0.0434"):
        assert token in text, (token, text)
    assert not BLOCK.search(text), text


def test_top_at_80x24_shows_limits_and_budgets_with_bars(run, team, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    text = run("top", "--once").output
    lines = text.rstrip("\n").splitlines()
    assert len(lines) <= 24 and max(map(len, lines)) <= 80, text
    budgets = text[text.index("\nbudgets"):text.index("spend per minute")]
    assert "nearest to their limits" in text and "build-server-eu-west" in text.split("\nbudgets")[0]
    assert ACCOUNT in budgets and "$1.25 (5%)" in budgets and "$1.25 (25%)" in budgets
    assert budgets.count("·") >= 10 and "▌" in budgets  # a bar per budget: 5% and 25% of theirs spent
    assert "spend per minute, last" in text  # the latest calls and the chart gave up lines, not the limits

