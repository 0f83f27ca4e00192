"""Refusals counted alike everywhere: one ledger with each kind of refusal made through a real
proxy (429 over a budget, 403 for an unpriced model under a budget, 403 for a model outside
a key's list, 403 for a key without `calls`, a hit rate limit, a 401), then the session
summary, `report --json`, `/v1/usage` and the dashboard show the same counts."""

from __future__ import annotations

import json
import re

import openai
import pytest

from support.clock import month, utc_today, within_one
from support.dashboard_plane import _get, _session, chat, cli, new_database, refuse, refused_keys, running, settle
from support.harness import http

CONFIG = "[tiers.pro]\nrequests_per_hour = 3\nmax_keys = 20\n"
NAMES = ("calls", "forwarded", "rejected", "rate_limited", "quota_exceeded", "budget_exceeded", "forbidden")


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("counts")
    db_path, config, store = new_database(tmp)
    with store:
        store.create_account("acme", "pro")
        made = {name: store.create_key("acme", config, name=name) for name in ("owner", "burst")}
        made |= refused_keys(store, config, "acme")
    with running(tmp, db_path, CONFIG, made) as plane:
        refusals(plane)
        settle(plane)
        yield plane


def refusals(plane) -> None:
    k = plane["keys"]
    chat(plane, k["owner"])
    chat(plane, k["narrow"])
    refuse(plane)
    with pytest.raises(openai.AuthenticationError):  # 401: no key of ours, no account
        chat(plane, "ask_" + "Zq9" * 10 + "Zq")
    for _ in range(3):
        chat(plane, k["burst"])
    with pytest.raises(openai.RateLimitError):
        chat(plane, k["burst"])


def counts(totals: dict) -> dict:
    return {name: totals[name] for name in NAMES}


@pytest.mark.period
def test_report_usage_and_dashboard_show_the_same_counts(plane):
    everything = json.loads(cli(plane, "report", "--json"))["totals"]
    assert counts(everything) == {"calls": 11, "forwarded": 5, "rejected": 1, "rate_limited": 1, "quota_exceeded": 0,
                                  "budget_exceeded": 2, "forbidden": 2}
    acme = json.loads(cli(plane, "report", "--json", "--account", "acme"))
    status, raw = http("GET", plane["serve"].url + "/v1/usage", plane["keys"]["owner"])
    assert status == 200 and json.loads(raw) == acme
    assert counts(acme["totals"]) == {**counts(everything), "calls": 10, "rejected": 0}  # the 401 has no account
    assert [b["subject"] for b in acme["budgets"]] == [plane["ids"]["tight"]]

    cookie, _ = _session(plane, "owner")

    def read():
        """The dashboard's counts of this month and the report of the same month."""
        (_, live), (_, page) = _get(plane, "/dashboard/live.json", cookie), _get(plane, "/", cookie)
        since = month(utc_today()).isoformat()
        return json.loads(live)["counts"], page, json.loads(cli(plane, "report", "--json", "--account", "acme",
                                                                "--since", since))

    (shown, page, report), _ = within_one(read, month)
    t = report["totals"]
    expected = {"calls": t["calls"], "rejected": t["rejected"], "limited": t["rate_limited"] + t["quota_exceeded"],
                "budget_exceeded": t["budget_exceeded"], "forbidden": t["forbidden"]}
    assert {name: int(shown[name].replace(",", "")) for name in expected} == expected
    for name, value in expected.items():
        assert re.search(rf'data-testid="count-{name}"[^>]*>{value:,}<', page), name


def test_the_session_summary_shows_the_same_counts(plane):
    plane["proxy"].stop()  # the summary is printed on exit
    output = plane["proxy"].output()
    summary = output[output.rfind("aispendtrack: this session"):]
    totals = counts(json.loads(cli(plane, "report", "--json"))["totals"])  # a fresh ledger: all of this session

    def shown(label: str) -> int:
        found = re.search(re.escape(label) + r"\s+([\d,]+)", summary)
        assert found, (label, summary[-3000:])
        return int(found.group(1).replace(",", ""))

    assert shown("budget refused") == totals["budget_exceeded"] == 2
    assert shown("forbidden (403)") == totals["forbidden"] == 2
    assert shown("rejected (401)") == totals["rejected"]
    assert shown("forwarded") == totals["forwarded"]
    assert f"{totals['rate_limited'] + totals['quota_exceeded']} ({totals['rate_limited']} rate, " \
           f"{totals['quota_exceeded']} quota)" in summary


def test_a_members_usage_carries_only_the_budgets_that_bind_its_keys(plane):
    cli(plane, "members", "add", "acme", "bob", "--role", "member")
    bob = json.loads(cli(plane, "keys", "create", "acme", "--member", "bob", "--name", "bob-laptop", "--json"))
    cli(plane, "keys", "budget", bob["id"], "--usd", "5", "--period", "total")
    cli(plane, "accounts", "budget", "acme", "--usd", "50", "--period", "total")
    whole = json.loads(http("GET", plane["serve"].url + "/v1/usage", plane["keys"]["owner"])[1])["budgets"]
    assert [(b["scope"], b["subject"]) for b in whole] == [
        ("account", "acme"), ("key", plane["ids"]["tight"]), ("key", bob["id"])]
    assert whole == json.loads(cli(plane, "report", "--json", "--account", "acme"))["budgets"]
    status, raw = http("GET", plane["serve"].url + "/v1/usage", bob["key"])
    assert status == 200
    assert [(b["scope"], b["subject"]) for b in json.loads(raw)["budgets"]] == [("account", "acme"), ("key", bob["id"])]
    assert plane["ids"]["tight"].encode() not in raw  # another member's key: not even its id
