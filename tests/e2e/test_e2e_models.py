"""Real mitmdump, official SDKs, the fake provider: model lists end to end.

The model that is served is the model that is checked (Gemini's path decides, a body model
that disagrees is checked too, OpenRouter fallbacks entry by entry), a refused call never
reaches the provider, and a refused call uses nothing: no hourly or monthly count, no
budget hold.
"""

from __future__ import annotations

import sqlite3
import time

import httpx2
import openai
import pytest

from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import keys

GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
MSG = [{"role": "user", "content": "hi"}]
HOURLY = 3
CONFIG = f"[tiers.free]\nrequests_per_hour = {HOURLY}\nmonthly_calls = 100\n"


@pytest.fixture
def proxy(make_proxy, fake):
    return make_proxy({"main": "reverse:" + fake.url + "@{port}"}, CONFIG)


def narrowed_key(store, config, account: str, *models: str, tier: str = "free") -> keys.NewKey:
    store.create_account(account, tier)
    return store.create_key(account, config, name=account, models=models)


def rows(db_path, key_id: str) -> list[dict]:
    with sqlite3.connect(db_path) as c:
        c.row_factory = sqlite3.Row
        return [dict(r) for r in c.execute(
            "SELECT status, outcome, model, request_model, reservation_id FROM calls WHERE key_id = ? ORDER BY id",
            (key_id,))]


def gemini(proxy, key: str, model: str, body: dict, *, stream: bool = False) -> httpx2.Response:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return httpx2.post(f"{proxy.url('main')}/v1beta/models/{model}:{method}", json=body,
                       headers={HEADER: key, "x-goog-api-key": "g-test"}, timeout=20)


@pytest.mark.parametrize("stream", [False, True], ids=["generate", "stream"])
def test_the_issue_attack_is_refused_and_never_forwarded(proxy, fake, store, config, db_path, stream):
    """Key allowed only gpt-4o-mini; path gemini-2.5-pro; body model gpt-4o-mini."""
    key = narrowed_key(store, config, "attack", "gpt-4o-mini")
    r = gemini(proxy, key.key, "gemini-2.5-pro", {**GEMINI_BODY, "model": "gpt-4o-mini"}, stream=stream)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["status"] == "PERMISSION_DENIED" and "'gemini-2.5-pro'" in r.json()["error"]["message"]
    assert fake.received == []
    (row,) = rows(db_path, key.id)
    assert (row["outcome"], row["model"], row["request_model"]) == ("forbidden", "gemini-2.5-pro", "gemini-2.5-pro")


@pytest.mark.parametrize("stream", [False, True], ids=["generate", "stream"])
def test_an_allowed_path_with_a_disagreeing_body_model_is_refused(proxy, fake, store, config, db_path, stream):
    key = narrowed_key(store, config, "bodymodel", "gemini-2.5-flash")
    r = gemini(proxy, key.key, "gemini-2.5-flash", {**GEMINI_BODY, "model": "gpt-4o"}, stream=stream)
    assert r.status_code == 403 and "'gpt-4o'" in r.json()["error"]["message"]
    assert fake.received == []
    r = gemini(proxy, key.key, "gemini-2.5-flash", GEMINI_BODY, stream=stream)
    assert r.status_code == 200 and len(fake.received) == 1
    assert [row["outcome"] for row in rows(db_path, key.id)] == ["forbidden", "forwarded"]


def test_a_path_naming_two_models_is_refused_400_for_every_key(proxy, fake, store, config, db_path):
    store.create_account("anymodel", "enterprise")
    key = store.create_key("anymodel", config, name="any")
    r = gemini(proxy, key.key, "gpt-4o-mini/models/gemini-2.5-pro", GEMINI_BODY)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert fake.received == [] and rows(db_path, key.id)[0]["outcome"] == "rejected"


def test_the_ledger_records_the_model_the_path_served(proxy, fake, store, config, db_path):
    store.create_account("served", "enterprise")
    key = store.create_key("served", config, name="any")
    r = gemini(proxy, key.key, "gemini-2.5-pro", {**GEMINI_BODY, "model": "gpt-4o-mini"})
    assert r.status_code == 200 and r.json()["modelVersion"] == "gemini-2.5-pro"
    (row,) = rows(db_path, key.id)
    assert (row["model"], row["request_model"]) == ("gemini-2.5-pro", "gemini-2.5-pro")


def test_openrouter_fallbacks_are_checked_entry_by_entry(proxy, fake, store, config, db_path):
    key = narrowed_key(store, config, "router", "openai/gpt-4o-mini", "openrouter/*")
    client = openai.OpenAI(base_url=proxy.url("main") + "/v1", api_key="sk-or-test", max_retries=0,
                           default_headers={HEADER: key.key})
    for extra in ({"models": ["openai/gpt-4o-mini", "openai/gpt-5"]}, {"route": "fallback"}, {}):
        model = "openrouter/auto" if not extra else "openai/gpt-4o-mini"
        with pytest.raises(openai.PermissionDeniedError):
            client.chat.completions.create(model=model, messages=MSG, extra_body=extra)
    assert fake.received == []
    ok = client.chat.completions.create(model="openai/gpt-4o-mini", messages=MSG,
                                        extra_body={"models": ["openai/gpt-4o-mini"], "route": "fallback"})
    assert ok.choices and len(fake.received) == 1


def test_refused_models_use_no_count(proxy, fake, store, config, db_path):
    """A key with a small hourly limit sends refused-model calls, then still has its whole
    allowance of allowed calls; the month counts only what was forwarded."""
    key = narrowed_key(store, config, "counted", "gpt-4o-mini")
    client = openai.OpenAI(base_url=proxy.url("main") + "/v1", api_key="sk-test", max_retries=0,
                           default_headers={HEADER: key.key})
    for _ in range(HOURLY + 2):
        with pytest.raises(openai.PermissionDeniedError):
            client.chat.completions.create(model="gpt-4o", messages=MSG)
    for _ in range(HOURLY):
        assert client.chat.completions.create(model="gpt-4o-mini", messages=MSG).choices
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert len(fake.received) == HOURLY
    with sqlite3.connect(db_path) as c:
        # summed over months: the calls may straddle a month's end
        assert c.execute("SELECT SUM(calls) FROM monthly_usage WHERE account = 'counted'").fetchone() == (HOURLY,)
        assert c.execute("SELECT COUNT(*) FROM rate_events WHERE key_id = ?", (key.id,)).fetchone() == (HOURLY,)
    assert [r["status"] for r in rows(db_path, key.id)] == [403] * (HOURLY + 2) + [200] * HOURLY + [429]


def test_a_refused_model_holds_no_budget(proxy, fake, store, database, config, db_path):
    key = narrowed_key(store, config, "budgeted", "gpt-4o-mini", tier="enterprise")
    store.set_budget("key", key.id, "5", "month", now=time.time())
    client = openai.OpenAI(base_url=proxy.url("main") + "/v1", api_key="sk-test", max_retries=0,
                           default_headers={HEADER: key.key})
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert client.chat.completions.create(model="gpt-4o-mini", messages=MSG).choices
    forbidden, forwarded = rows(db_path, key.id)
    assert forbidden["outcome"] == "forbidden" and forbidden["reservation_id"] is None
    assert forwarded["outcome"] == "forwarded" and forwarded["reservation_id"] is not None
