import json
import re

import pytest

from aispendtrack.store import open_store
from aispendtrack.store.db import connect

from support.clock import day_of, month, within_one


def test_key_lifecycle_with_json(run):
    run("accounts", "create", "acme", "--tier", "pro")
    created = json.loads(run("keys", "create", "acme", "--name", "laptop", "--json").output)
    assert set(created) == {"id", "key", "account", "name"}
    assert re.fullmatch(r"ask_[A-Za-z0-9]{32}", created["key"])
    assert (created["account"], created["name"]) == ("acme", "laptop")
    listed = json.loads(run("keys", "list", "acme", "--json").output)
    assert [k["id"] for k in listed] == [created["id"]]
    assert created["key"] not in run("keys", "list").output
    rotated = json.loads(run("keys", "rotate", created["id"], "--json").output)
    assert rotated["id"] == created["id"] and rotated["key"] != created["key"]
    assert json.loads(run("keys", "list", "--json").output)[0]["in_grace"] is True
    run("keys", "revoke", created["id"])
    listed = json.loads(run("keys", "list", "--json", "--all").output)[0]
    assert listed["state"] == "revoked" and listed["in_grace"] is False  # nothing of it works any more
    shown = run("keys", "list", "--all").output
    assert "revoked" in shown and "grace" not in shown
    # the plaintext keys are nowhere in the database file
    raw = run.db.read_bytes() + (run.db.with_name(run.db.name + "-wal").read_bytes()
                                 if run.db.with_name(run.db.name + "-wal").exists() else b"")
    assert created["key"].encode() not in raw and rotated["key"].encode() not in raw


def test_keys_list_shows_active_keys_first_and_the_rest_with_all(run):
    run("accounts", "create", "acme", "--tier", "pro")
    old = json.loads(run("keys", "create", "acme", "--name", "old-one", "--json").output)
    json.loads(run("keys", "create", "acme", "--name", "current", "--json").output)
    run("keys", "revoke", old["id"])
    default = run("keys", "list").output
    assert "current" in default and "old-one" not in default
    assert "1 revoked or expired key not shown (--all shows them)" in default
    every = run("keys", "list", "--all").output
    assert every.index("current") < every.index("old-one")
    # --json lists what the table lists: the active keys, and with --all the rest after them
    assert [k["name"] for k in json.loads(run("keys", "list", "--json").output)] == ["current"]
    listed = json.loads(run("keys", "list", "--json", "--all").output)
    assert [(k["name"], k["state"]) for k in listed] == [("current", "active"), ("old-one", "revoked")]


def test_errors_are_clear_and_exit_non_zero(run):
    r = run("keys", "create", "ghost", ok=False)
    assert r.exit_code == 1 and "no account named 'ghost'" in r.output
    run("accounts", "create", "solo")
    run("keys", "create", "solo")
    r = run("keys", "create", "solo", ok=False)
    assert "maximum of 1 active key" in r.output
    r = run("accounts", "create", "x", "--tier", "gold", ok=False)
    assert r.exit_code == 2 and "gold" in r.output
    assert "no key with id" in run("keys", "rotate", "key_nope", ok=False).output


def test_accounts_list_and_enterprise_limits(run):
    run("accounts", "create", "big", "--tier", "enterprise")
    run("accounts", "limits", "big", "--requests-per-hour", "500")
    (acct,) = json.loads(run("accounts", "list", "--json").output)
    assert (acct["requests_per_hour"], acct["monthly_calls"], acct["monthly_used"]) == (500, None, 0)
    run("accounts", "limits", "big", "--monthly-calls", "1000")
    (acct,) = json.loads(run("accounts", "list", "--json").output)
    assert (acct["requests_per_hour"], acct["monthly_calls"]) == (500, 1000)
    run("accounts", "limits", "big", "--requests-per-hour", "tier")
    (acct,) = json.loads(run("accounts", "list", "--json").output)
    assert acct["requests_per_hour"] is None


@pytest.mark.period
def test_usage_and_reset(run, admit):
    run("accounts", "create", "acme", "--tier", "free")
    key = json.loads(run("keys", "create", "acme", "--json").output)
    import time

    now = time.time()
    with open_store(run.db) as store:
        for _ in range(3):
            admit(store, key["id"], "acme", 1000, 10000, now)
    ((k,), (a,)), today = within_one(lambda: (json.loads(run("keys", "list", "--json").output),
                                              json.loads(run("accounts", "list", "--json").output)), month)
    assert (k["hourly_used"], k["hourly_remaining"]) == (3, 997)
    assert 3590 < k["hourly_reset_seconds"] <= 3600
    in_month = 3 if month(day_of(now)) == month(today) else 0  # a month that began since then has none
    assert (a["monthly_used"], a["monthly_remaining"]) == (in_month, 10000 - in_month)
    run("keys", "reset", key["id"])
    run("accounts", "reset", "acme")
    assert json.loads(run("keys", "list", "--json").output)[0]["hourly_used"] == 0
    assert json.loads(run("accounts", "list", "--json").output)[0]["monthly_used"] == 0


def test_key_expiry(run):
    run("accounts", "create", "acme", "--tier", "pro")
    key = json.loads(run("keys", "create", "acme", "--expires", "2h", "--json").output)
    (k,) = json.loads(run("keys", "list", "--json").output)
    assert k["id"] == key["id"] and k["expires"] > k["created"] and k["state"] == "active"
    r = run("keys", "create", "acme", "--expires", "soon", ok=False)
    assert r.exit_code == 2 and "--expires" in r.output


@pytest.mark.parametrize("value, why", [("1999-01-01", "in the past"), ("2020-01-01T00:00:00Z", "in the past"),
                                        ("99999999d", "at most 100 years"), ("0d", "above zero"),
                                        ("9999-12-31", "more than 100 years"), ("-5d", "use e.g.")])
def test_key_expiry_out_of_range_is_refused_without_a_traceback(run, value, why):
    run("accounts", "create", "acme", "--tier", "pro")
    r = run("keys", "create", "acme", "--expires", value, ok=False)
    assert r.exit_code == 2 and why in r.output and "Traceback" not in r.output
    assert json.loads(run("keys", "list", "--json").output) == []  # nothing created


def test_expired_keys_are_listed_as_expired(run):
    from datetime import UTC, datetime

    from aispendtrack.config import Config

    run("accounts", "create", "acme", "--tier", "pro")
    with open_store(run.db) as store:
        store.create_key("acme", Config(), expires=datetime(2020, 1, 1, tzinfo=UTC))
    assert json.loads(run("keys", "list", "--json").output) == []
    assert [k["state"] for k in json.loads(run("keys", "list", "--json", "--all").output)] == ["expired"]


@pytest.mark.parametrize("args", [("accounts", "create", "evil\x1b[31m"), ("accounts", "create", "a\u202eb"),
                                  ("accounts", "create", "x" * 65), ("keys", "create", "acme", "--name", "l\x1b]0;t\x07")])
def test_names_with_control_characters_are_refused(run, args):
    run("accounts", "create", "acme")
    r = run(*args, ok=False)
    assert r.exit_code == 1 and "\x1b" not in r.output and "\u202e" not in r.output
    assert "printable" in r.output or "at most 64" in r.output


@pytest.mark.period
def test_unlimited_usage_comes_from_the_ledger(run):
    """Unlimited keys keep no limit counter; their usage is what the ledger metered."""
    import time

    run("accounts", "create", "big", "--tier", "enterprise")
    key = json.loads(run("keys", "create", "big", "--json").output)
    now = time.time()
    rows = [(now - 10, "forwarded"), (now - 20, "upstream_error"), (now - 30, "rate_limited"),
            (now - 40, "rejected"), (now - 4000, "forwarded")]
    with open_store(run.db) as store:  # as the proxy's ledger writer writes them
        store.record([{"ts": ts, "key_id": key["id"], "account": "big", "outcome": outcome} for ts, outcome in rows])
    (k,) = json.loads(run("keys", "list", "--json").output)
    assert (k["requests_per_hour"], k["hourly_used"]) == (None, 2)
    (a,), today = within_one(lambda: json.loads(run("accounts", "list", "--json").output), month)
    in_month = sum(1 for ts, o in rows if o in ("forwarded", "upstream_error") and month(day_of(ts)) == month(today))
    assert (a["monthly_calls"], a["monthly_used"]) == (None, in_month)


@pytest.mark.period
def test_account_reset_clears_only_the_current_month(run):
    from aispendtrack.limits.window import month_key

    run("accounts", "create", "acme")
    database = connect(run.db)
    import time

    now = time.time()
    this, last = month_key(now), month_key(now - 40 * 86400)
    database.execute("INSERT INTO monthly_usage VALUES ('acme', ?, 7), ('acme', ?, 9)", [this, last])
    _, today = within_one(lambda: run("accounts", "reset", "acme"), month)
    # the month current when the command ran (a new one, if `this` ended meanwhile: nothing to clear)
    kept = [(last, 9)] if month(today) == month(day_of(now)) else [(last, 9), (this, 7)]
    assert sorted(database.execute("SELECT month, calls FROM monthly_usage").fetchall()) == kept


@pytest.mark.period
def test_rename_account_and_key_keeps_limits_and_history(run, admit):
    from aispendtrack.limits.window import month_key
    import time

    run("accounts", "create", "acme", "--tier", "free")
    key = json.loads(run("keys", "create", "acme", "--name", "laptop", "--json").output)
    db = connect(run.db)
    now = time.time()
    with open_store(run.db) as store:
        admit(store, key["id"], "acme", 10, 10, now)
        store.record([{"ts": "2026-11-01T00:00:00.000000Z", "key_id": key["id"], "account": "acme",
                       "provider": "openai", "api": "chat", "outcome": "forwarded"}])
    run("accounts", "rename", "acme", "acme-corp")
    run("keys", "rename", key["id"], "desktop")
    assert {r["account"] for r in db.query("SELECT account FROM calls_daily")} == {"acme-corp"}
    listed = json.loads(run("keys", "list", "--json").output)
    assert [(k["account"], k["name"]) for k in listed] == [("acme-corp", "desktop")]
    assert db.execute("SELECT calls FROM monthly_usage WHERE account = 'acme-corp' AND month = ?",
                      [month_key(now)]).fetchall() == [(1,)]  # the counter moved
    assert [r["account"] for r in db.query("SELECT account FROM calls")] == ["acme-corp"]
    assert month_key(now) in {r["month"] for r in db.query("SELECT month FROM monthly_usage")}
    taken = run("accounts", "create", "other")
    assert taken.exit_code == 0
    clash = run("accounts", "rename", "acme-corp", "other", ok=False)
    assert clash.exit_code == 1 and "already exists" in clash.output
    bad = run("accounts", "rename", "acme-corp", "bad\x1b[31mname", ok=False)
    assert bad.exit_code == 1 and "control or invisible characters" in bad.output
    missing = run("keys", "rename", "key_000000000000", "x", ok=False)
    assert missing.exit_code == 1 and "no key with id" in missing.output


@pytest.mark.parametrize("width", [240, 60])
def test_keys_list_never_cuts_a_name_or_number(run, monkeypatch, width):
    import io
    import sys

    from rich.console import Console

    run("accounts", "create", "a-rather-long-account-name", "--tier", "pro")
    key = json.loads(run("keys", "create", "a-rather-long-account-name", "--name", "build-server-eu-west",
                         "--json").output)
    out = io.StringIO()
    monkeypatch.setattr(sys.modules["aispendtrack.cli.main"], "console", Console(file=out, width=width))
    run("keys", "list")
    text = out.getvalue()
    for token in (key["id"], "a-rather-long-account-name", "build-server-eu-west", "0 / 10,000 (0%)"):
        assert token in text, (token, text)
    assert max(len(line) for line in text.splitlines()) <= width
    assert ("\n  account" in text) == (width == 60)  # vertical only when the table cannot fit


def test_keys_create_with_default_tags(run):
    run("accounts", "create", "acme", "--tier", "pro")
    key = json.loads(run("keys", "create", "acme", "--name", "ci", "--tags", "env=ci, team=search", "--json").output)
    (k,) = json.loads(run("keys", "list", "--json").output)
    assert k["id"] == key["id"] and k["tags"] == {"env": "ci", "team": "search"}
    assert "env=ci" in run("keys", "list").output
    for bad, why in [("env", "not name=value"), ("Bad Name=x", "is not allowed"), ("env=a,env=b", "given twice")]:
        r = run("keys", "create", "acme", "--tags", bad, ok=False)
        assert r.exit_code == 2 and "--tags" in r.output and why in r.output and "Traceback" not in r.output
    assert len(json.loads(run("keys", "list", "--json").output)) == 1  # nothing created
