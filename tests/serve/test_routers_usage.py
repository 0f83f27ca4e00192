"""`GET /v1/usage` and `GET /v1/calls` in process, on ledger rows the store's writer wrote:
owner/admin keys read the whole account, members and viewers their own calls, nobody another
account's — whatever the query asks for."""

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from aispendtrack.store.writer import StoreWriter

from support.ledger_rows import make_row
from support.team import CONFIG

NOVEMBER = "since=2026-11-01&until=2026-12-01"  # the rows' month, whatever today is


@pytest.fixture
def ledger(team, store):
    """In November 2026: the owner's call ($0.5), two of mia's ($1.25, $0.25), one of rival's ($9)."""
    writer = StoreWriter(store)
    writer.start()
    try:
        for i, (name, cost) in enumerate((("owner", "0.5"), ("mia", "1.25"), ("mia", "0.25"), ("rival", "9"))):
            writer.write_sync(make_row(ts=datetime(2026, 11, 26, 9, i, tzinfo=UTC), flow_id=f"flow-{i}",
                                       key_id=team[name].id, account=team[name].account, cost_usd=Decimal(cost)))
    finally:
        writer.close()
    return team


def usage(api, key, query=NOVEMBER, by="member") -> dict:
    r = api("GET", f"/v1/usage?{query}&by={by}", key)
    assert r.status_code == 200, r.text
    return r.json()


def calls(api, key, query=NOVEMBER, fmt="jsonl") -> list[dict]:
    r = api("GET", f"/v1/calls?{query}&format={fmt}", key)
    assert r.status_code == 200, r.text
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(r.text)))
    return [json.loads(line) for line in r.text.splitlines()]


def test_owner_and_admin_read_the_whole_account(api, ledger):
    for name in ("owner", "ada"):
        u = usage(api, ledger[name].key)
        assert (u["totals"]["calls"], u["totals"]["cost_usd"]) == (3, "2")
        assert {g["key"]: (g["calls"], g["cost_usd"]) for g in u["groups"]} == {
            "acme/mia": (2, "1.5"), "acme/owner": (1, "0.5")}
        assert sorted(c["key_id"] for c in calls(api, ledger[name].key)) == sorted(
            [ledger["owner"].id, ledger["mia"].id, ledger["mia"].id])


def test_members_and_viewers_read_only_their_own_calls(api, ledger):
    mia = usage(api, ledger["mia"].key, by="key")
    assert (mia["totals"]["calls"], mia["totals"]["cost_usd"]) == (2, "1.5")
    assert [g["key"] for g in mia["groups"]] == [ledger["mia"].id]
    assert {c["key_id"] for c in calls(api, ledger["mia"].key)} == {ledger["mia"].id}
    assert usage(api, ledger["vic"].key)["totals"]["calls"] == 0
    assert calls(api, ledger["vic"].key, fmt="csv") == []


def test_a_query_cannot_reach_another_account_or_member(api, ledger):
    """Parameters the routes do not take (account, key, member) change nothing."""
    sneaky = f"{NOVEMBER}&account=rival&key={ledger['owner'].id}&member=owner"
    assert usage(api, ledger["mia"].key, sneaky)["totals"]["cost_usd"] == "1.5"
    assert usage(api, ledger["rival"].key, f"{NOVEMBER}&account=acme")["totals"]["cost_usd"] == "9"
    assert {c["account"] for c in calls(api, ledger["rival"].key, f"{NOVEMBER}&account=acme")} == {"rival"}
    assert {c["key_id"] for c in calls(api, ledger["mia"].key, sneaky, fmt="csv")} == {ledger["mia"].id}


def test_the_export_needs_the_export_permission(api, ledger, store):
    narrow = store.create_key("acme", CONFIG, name="no-export", permissions=("api",)).key
    assert api("GET", f"/v1/usage?{NOVEMBER}", narrow).status_code == 200
    r = api("GET", f"/v1/calls?{NOVEMBER}", narrow)
    assert r.status_code == 403 and r.json()["error"]["permission"] == "export"
    assert ledger["owner"].id not in r.text


def test_the_period_bounds_the_rows(api, ledger):
    assert usage(api, ledger["owner"].key, "since=2026-12-01&until=2026-12-31")["totals"]["calls"] == 0
    assert calls(api, ledger["owner"].key, "since=2026-10-01&until=2026-11-01") == []


@pytest.mark.parametrize("path, status, fragment", [
    ("/v1/usage?since=yesterday-ish", 400, "yesterday-ish"),
    ("/v1/usage?since=2026-11-02&until=2026-11-01", 400, "until must be later than since"),
    ("/v1/usage?by=account", 422, "by"),
    ("/v1/calls?format=xml", 422, "format"),
])
def test_bad_queries_are_clear_errors(api, ledger, path, status, fragment):
    r = api("GET", path, ledger["owner"].key)
    assert r.status_code == status and fragment in r.json()["error"]["message"], r.text
