"""The dashboard's budget form and the new-key form's expiry and default tags, in process:
owners and admins set, change and clear budgets through the `/v1/budgets` route functions
(same rules, same exactness, in force on the next admission); members and viewers, a form
without its CSRF token and another account's key get nowhere, whatever they post."""

import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from aispendtrack.limits import budget as rules
from aispendtrack.serve.app import create_app
from aispendtrack.store import budgets
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.db import parse_iso, utcnow

from support.team import CONFIG

BASE = f"http://{CONFIG.serve.listen}"


@pytest.fixture
def page(db_path, team):
    """`page(name)` → a logged-in TestClient for team member `name` and its CSRF token."""
    def login(name: str):
        client = TestClient(create_app(CONFIG, db_path, deliver=False), base_url=BASE)
        r = client.post("/login", data={"key": team[name].key}, headers={"origin": BASE}, follow_redirects=False)
        assert r.status_code == 303, r.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/").text).group(1)
        return client, csrf
    return login


def post(client, path: str, fields: dict, csrf: str | None):
    return client.post(path, data={**fields, **({"csrf": csrf} if csrf else {})}, headers={"origin": BASE})


def admitted(store, key_id: str, usd: str) -> bool:
    return store.admit(Admission(key_id, "acme", None, None, time.time(),
                                 budgets.Charge(rules.to_nano(Decimal(usd)), None))).admitted


@pytest.mark.parametrize("who", ["owner", "ada"])
def test_owner_and_admin_set_change_and_clear_budgets(page, team, store, who):
    client, csrf = page(who)
    assert 'data-testid="budget-form"' in client.get("/").text
    mia = team["mia"].id
    r = post(client, "/dashboard/budgets", {"target": mia, "usd": "0.25", "period": "day", "action": "set"}, csrf)
    assert r.status_code == 200 and f"Budget of key {mia}: $0.25 per day" in r.text, r.text
    assert store.get_budget("key", mia).limit_nano == rules.to_nano(Decimal("0.25"))  # exact, as the CLI's
    assert not admitted(store, mia, "0.30") and admitted(store, mia, "0.01")
    r = post(client, "/dashboard/budgets", {"target": mia, "usd": "1.000000001", "period": "week", "action": "set"}, csrf)
    assert r.status_code == 200, r.text
    b = store.get_budget("key", mia)
    assert (b.limit_nano, b.period) == (rules.to_nano(Decimal("1.000000001")), "week")
    assert f'data-budget="key:{mia}"' in r.text and "$1.000000001" in r.text
    r = post(client, "/dashboard/budgets", {"target": "account", "usd": "50", "period": "month", "action": "set"}, csrf)
    assert r.status_code == 200 and store.get_budget("account", "acme").limit_nano == rules.to_nano(Decimal("50"))
    r = post(client, "/dashboard/budgets", {"target": mia, "action": "clear"}, csrf)
    assert r.status_code == 200 and f"Budget of key {mia} cleared." in r.text
    assert store.get_budget("key", mia) is None and admitted(store, mia, "0.30")
    r = post(client, "/dashboard/budgets", {"target": "account", "action": "clear"}, csrf)
    assert r.status_code == 200 and store.get_budget("account", "acme") is None


@pytest.mark.parametrize("fields, fragment", [
    ({"usd": "-1"}, "usd:"),
    ({"usd": "ten"}, "usd:"),
    ({"usd": ""}, "usd:"),
    ({"usd": "5", "period": "year"}, "period:"),
    ({"usd": "5", "action": "explode"}, "action:"),
])
def test_bad_input_names_the_field_and_changes_nothing(page, store, fields, fragment):
    client, csrf = page("owner")
    r = post(client, "/dashboard/budgets", {"target": "account", "action": "set", **fields}, csrf)
    assert r.status_code == 400 and fragment in r.text, r.text
    assert store.get_budget("account", "acme") is None


@pytest.mark.parametrize("who", ["mia", "vic"])
def test_members_and_viewers_posting_the_form_directly_change_nothing(page, team, store, who):
    client, csrf = page(who)
    assert 'data-testid="budget-form"' not in client.get("/").text
    for fields in ({"target": team[who].id, "usd": "1", "action": "set"}, {"target": "account", "usd": "1", "action": "set"}):
        r = post(client, "/dashboard/budgets", fields, csrf)
        assert r.status_code == 403, r.text
    store.set_budget("account", "acme", "5", "month", now=time.time())
    assert post(client, "/dashboard/budgets", {"target": "account", "action": "clear"}, csrf).status_code == 403
    assert store.get_budget("account", "acme") is not None
    assert store.get_budget("key", team[who].id) is None


def test_without_csrf_or_from_another_site_nothing_changes(page, store):
    client, csrf = page("owner")
    fields = {"target": "account", "usd": "1", "action": "set"}
    assert post(client, "/dashboard/budgets", fields, None).status_code == 403
    assert post(client, "/dashboard/budgets", fields, "0" * 64).status_code == 403
    r = client.post("/dashboard/budgets", data={**fields, "csrf": csrf}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403
    assert store.get_budget("account", "acme") is None


def test_another_accounts_key_cannot_be_targeted(page, team, store):
    client, csrf = page("rival")
    for action in ("set", "clear"):
        r = post(client, "/dashboard/budgets", {"target": team["mia"].id, "usd": "1", "action": action}, csrf)
        assert r.status_code == 404 and "acme" not in r.text, r.text
    assert store.get_budget("key", team["mia"].id) is None


def test_new_key_form_takes_the_clis_expiry(page, store):
    client, csrf = page("owner")
    before = utcnow()
    r = post(client, "/dashboard/keys", {"name": "ci", "permissions": ["calls"], "expires": "30d"}, csrf)
    assert r.status_code == 200 and "created" in r.text, r.text
    new = [k for k in store.list_keys("acme") if k.name == "ci"]
    assert len(new) == 1
    expires = parse_iso(new[0].expires)
    assert before + timedelta(days=30) - timedelta(seconds=1) <= expires <= utcnow() + timedelta(days=30)
    day = (utcnow() + timedelta(days=400)).date().isoformat()  # a date alone: midnight UTC, as the CLI reads it
    r = post(client, "/dashboard/keys", {"name": "dated", "permissions": ["calls"], "expires": day}, csrf)
    assert r.status_code == 200, r.text
    assert [k.expires[:19] for k in store.list_keys("acme") if k.name == "dated"] == [f"{day}T00:00:00"]


@pytest.mark.parametrize("expires, fragment", [
    ("2000-01-01", "expires: that is in the past"),
    ("0d", "expires: give a duration above zero"),
    ("99999999d", "expires: give a duration above zero and at most 100 years"),
    ("next tuesday", "expires: use e.g. 30d"),
])
def test_bad_expiry_is_refused_naming_the_field(page, store, expires, fragment):
    client, csrf = page("owner")
    count = len(store.list_keys("acme"))
    r = post(client, "/dashboard/keys", {"name": "x", "permissions": ["calls"], "expires": expires}, csrf)
    assert r.status_code == 400 and fragment in r.text, r.text
    assert len(store.list_keys("acme")) == count


def test_a_viewer_cannot_create_a_key_with_expiry(page, store):
    client, csrf = page("vic")
    count = len(store.list_keys("acme"))
    r = post(client, "/dashboard/keys", {"name": "sneaky", "permissions": ["calls"], "expires": "30d"}, csrf)
    assert r.status_code == 403 and len(store.list_keys("acme")) == count


def test_new_key_form_takes_default_tags(page, store):
    client, csrf = page("owner")
    r = post(client, "/dashboard/keys", {"name": "tagged", "permissions": ["calls"], "tags": "env=ci, team=search"}, csrf)
    assert r.status_code == 200, r.text
    (k,) = [k for k in store.list_keys("acme") if k.name == "tagged"]
    assert k.tags == {"env": "ci", "team": "search"}
    assert f'data-testid="tags-{k.id}">env=ci, team=search<' in r.text
    count = len(store.list_keys("acme"))
    r = post(client, "/dashboard/keys", {"name": "bad", "permissions": ["calls"], "tags": "env"}, csrf)
    assert r.status_code == 400 and "tags: &#39;env&#39; is not name=value" in r.text, r.text
    assert len(store.list_keys("acme")) == count
