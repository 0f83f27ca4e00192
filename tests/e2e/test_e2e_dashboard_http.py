"""The dashboard's server without a browser: what a hostile page or client could try
(cross-site POSTs, keys in URLs, wrong keys) and how sessions are kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from aispendtrack.store import db as dbmod
from aispendtrack.views.formats import fmt_usd

from support.clock import month, utc_today, within_one
from support.dashboard_plane import _get, _post, _session, cli


def _state(plane, key_id: str) -> str:
    return next(k["state"] for k in json.loads(cli(plane, "keys", "list", "acme", "--json", "--all")) if k["id"] == key_id)


def test_cross_site_posts_are_refused(plane):
    base = plane["serve"].url
    victim = json.loads(cli(plane, "keys", "create", "acme", "--name", "victim", "--json"))["id"]
    cookie, csrf = _session(plane, "owner")
    url = f"{base}/dashboard/keys/{victim}/revoke"
    for fields, origin in (({"csrf": csrf}, "http://evil.example"), ({"csrf": csrf}, None), ({}, base),
                           ({"csrf": "0" * 64}, base)):
        status, body, _ = _post(url, fields, origin, cookie)
        assert status == 403 and "not sent from this page" in body, (fields, origin)
        assert _state(plane, victim) == "active"
    status, body, headers = _post(base + "/login", {"key": plane["keys"]["owner"]}, "http://evil.example")
    assert status == 403 and "set-cookie" not in {h.lower() for h in headers}
    assert _post(url, {"csrf": csrf}, base, cookie)[0] == 200
    assert _state(plane, victim) == "revoked"


def test_login_refusals_never_echo_the_key(plane):
    import urllib.error
    import urllib.request

    base, key = plane["serve"].url, plane["keys"]["owner"]
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{base}/?key={key}", timeout=20)
    assert e.value.code == 400 and key not in e.value.read().decode()
    wrong = "ask_" + "x" * 32
    status, body, _ = _post(base + "/login", {"key": wrong}, base)
    assert status == 401 and wrong not in body and wrong[4:] not in body
    status, body, _ = _post(base + "/login", {"key": "sk-not-ours"}, base)
    assert status == 401 and "sk-not-ours" not in body
    calls_only = json.loads(cli(plane, "keys", "create", "acme", "--permissions", "calls", "--json"))["key"]
    status, body, headers = _post(base + "/login", {"key": calls_only}, base)
    assert status == 403 and "no dashboard permission" in body and calls_only not in body


def test_sessions_are_stored_as_digests_only(plane):
    import hashlib

    cookie, _ = _session(plane, "owner")
    database = dbmod.connect(plane["db_path"])
    try:
        digests = {r[0] for r in database.execute("SELECT digest FROM dashboard_sessions")}
    finally:
        database.conn.close()
    assert hashlib.sha256(cookie.encode()).hexdigest() in digests
    assert cookie not in digests


def test_revoking_the_key_ends_its_sessions_at_once(plane):
    new = json.loads(cli(plane, "keys", "create", "acme", "--name", "short-lived", "--json"))
    plane["keys"]["short-lived"] = new["key"]
    cookie, _ = _session(plane, "short-lived")
    assert _get(plane, "/dashboard/live.json", cookie)[0] == 200
    cli(plane, "keys", "revoke", new["id"])
    assert _get(plane, "/dashboard/live.json", cookie)[0] == 401
    status, page = _get(plane, "/", cookie)
    assert 'data-testid="key-input"' in page and new["key"] not in page


def test_names_are_shown_as_text_never_markup(plane):
    cli(plane, "keys", "create", "acme", "--name", "<img src=x onerror=alert(1)>")
    cookie, _ = _session(plane, "owner")
    status, page = _get(plane, "/", cookie)
    assert status == 200
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.period
def test_a_member_sees_only_their_own_keys_and_spend_and_the_owner_sees_each_member(plane):
    from aispendtrack.views.members import member_spend

    from support.dashboard_plane import chat, settle

    made = {}
    for member in ("alice", "bob"):
        cli(plane, "members", "add", "acme", member, "--role", "member")
        made[member] = json.loads(cli(plane, "keys", "create", "acme", "--member", member,
                                      "--name", f"{member}-laptop", "--json"))
        plane["keys"][f"{member}-laptop"] = made[member]["key"]

    def calls_and_pages():
        """The members' calls, their spend this month and the pages that show this month."""
        before = settle(plane)
        chat(plane, made["alice"]["key"])
        for model in ("gpt-4o", "gpt-4o-mini", "gpt-4o"):
            chat(plane, made["bob"]["key"], model)
        settle(plane, before)
        database = dbmod.connect(plane["db_path"])
        try:
            first = datetime.combine(month(utc_today()), datetime.min.time(), UTC)
            spend = {m["member"]: m for m in member_spend(database, "acme", since=first)}
        finally:
            database.conn.close()
        alice, _ = _session(plane, "alice-laptop")
        owner, _ = _session(plane, "owner")
        return spend, _get(plane, "/", alice), _get(plane, "/dashboard/live.json", alice), _get(plane, "/", owner)

    # a month's end between the calls and the pages: made again, all in the new month
    (spend, (status, page), (status_live, live), (owner_status, owner_page)), _ = within_one(calls_and_pages, month)
    assert spend["alice"]["calls"] == 1 and spend["bob"]["calls"] == 3
    others = [k for k in json.loads(cli(plane, "keys", "list", "acme", "--json", "--all")) if k["member"] != "alice"]
    assert len(others) >= 3  # owner's keys and bob's

    assert status == status_live == 200
    data = json.loads(live)
    assert data["spend_month_exact"] == f"${spend['alice']['cost_usd']}" and data["counts"]["calls"] == "1"
    assert "alice-laptop" in page and "alice-laptop" in live
    assert 'data-testid="scope-note"' in page and 'data-testid="by-member"' not in page
    for k in others:
        for text in (k["id"], k["hint"], f"{k['name']} ("):
            assert text not in page and text not in live, (k["name"], text)
    for amount in (spend["bob"]["cost_usd"], spend["owner"]["cost_usd"]):
        # (the owner spent nothing yet in a month that began after the plane's calls: no amount to hide)
        assert amount == "0" or (f"${amount}" not in page and f"${amount}" not in live)

    page = owner_page
    assert owner_status == 200 and 'data-testid="by-member"' in page and 'data-testid="scope-note"' not in page
    for m in ("alice", "bob"):
        cost = spend[m]["cost_usd"]  # rounded, exact in the title
        assert f'<td>{m}</td><td>member</td><td>1</td><td title="${cost}">{fmt_usd(cost)}</td>' in page, \
            page[page.find("by-member"):page.find("by-member") + 900]
    assert "bob-laptop" in page and "alice-laptop" in page
