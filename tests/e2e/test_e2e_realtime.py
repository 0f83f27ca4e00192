"""OpenAI Realtime over WebSocket through a real mitmdump, with the openai SDK's own Realtime
client: the upgrade is one admitted call, each `response.done` one priced row of the
session, and a budget with nothing left refuses a client's `response.create` with a
Realtime `error` event that never reaches the provider."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal

import openai
import pytest
from genai_prices import Usage, calc_price
from websockets.exceptions import InvalidStatus

from aispendtrack.demo.fake.realtime import usage as realtime_usage
from aispendtrack.demo.fake.wire_core import UsageSpec
from aispendtrack.meter.realtime import event as parse_event, response_usage
from aispendtrack.proxy.auth import HEADER

MODEL = "gpt-realtime"


def rows(db_path) -> list[dict]:
    with sqlite3.connect(db_path) as c:
        c.row_factory = sqlite3.Row
        return [dict(r) for r in c.execute("SELECT * FROM calls ORDER BY id")]


def response_cost() -> Decimal:
    """What one fake response costs at genai-prices' gpt-realtime rates, text and audio apart."""
    import json
    ev = parse_event(json.dumps({"type": "response.done", "response": {"usage": realtime_usage(UsageSpec())}}).encode(),
                     frozenset({"response.done"}))
    metered, _ = response_usage(ev)
    return Decimal(str(calc_price(Usage(**metered.details), model_ref=MODEL, provider_id="openai").total_price))


def client_for(proxy, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url("main") + "/v1", api_key="sk-test", max_retries=0,
                         default_headers={HEADER: key})


def until(conn, wanted: set[str], timeout: float = 10) -> list:
    """Server events up to and including the first of `wanted`."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        ev = conn.recv()
        seen.append(ev)
        if ev.type in wanted:
            return seen
    raise AssertionError(f"none of {wanted} in {[e.type for e in seen]}")


def ask(conn) -> list:
    conn.response.create()
    return until(conn, {"response.done", "error"})


def settled(db_path, n: int, timeout: float = 10) -> list[dict]:
    deadline = time.time() + timeout
    while len(found := rows(db_path)) < n and time.time() < deadline:
        time.sleep(0.05)
    return found


@pytest.fixture
def proxy(make_proxy, fake):
    return make_proxy({"main": f"reverse:{fake.url}@{{port}}"})


def test_each_response_is_a_priced_row_of_the_session(proxy, fake, account_key, db_path):
    with client_for(proxy, account_key.key).realtime.connect(model=MODEL) as conn:
        assert until(conn, {"session.created"})[-1].session.model == MODEL
        assert ask(conn)[-1].type == "response.done"
        assert ask(conn)[-1].type == "response.done"
    found = settled(db_path, 3)
    assert len(found) == 3, found
    session, *responses = found
    assert {r["flow_id"] for r in found} == {session["flow_id"]}  # one session
    assert all(r["api"] == "realtime" and r["provider"] == "openai" and r["model"] == MODEL for r in found)
    assert session["status"] == 101 and session["input_tokens"] == 0 and Decimal(session["cost_usd"]) == 0
    spec, cost = UsageSpec(), response_cost()
    assert cost > 0
    for r in responses:
        assert (r["input_tokens"], r["output_tokens"], r["cache_read_tokens"]) == (spec.input, spec.output,
                                                                                   spec.cache_read)
        assert r["pricing"] == "priced" and Decimal(r["cost_usd"]) == cost
        assert r["outcome"] == "forwarded" and r["error"] is None
    # audio is billed at its own rate: far above the same counts at the text rate
    text_only = calc_price(Usage(input_tokens=spec.input, output_tokens=spec.output, cache_read_tokens=spec.cache_read),
                           model_ref=MODEL, provider_id="openai").total_price
    assert cost > 2 * Decimal(str(text_only))
    assert [e["type"] for e in fake.realtime_events] == ["response.create", "response.create"]


def test_budget_refuses_a_new_response_and_still_charges_what_the_server_starts(
        proxy, fake, account_key, store, db_path):
    cost = response_cost()
    store.set_budget("account", "acme", cost * Decimal("1.5"), "total", now=time.time())  # no period end mid-test
    with client_for(proxy, account_key.key).realtime.connect(model=MODEL) as conn:
        until(conn, {"session.created"})
        assert ask(conn)[-1].type == "response.done"  # spent: 1 × cost of 1.5
        assert ask(conn)[-1].type == "response.done"  # fits (something was left): spent 2 × cost
        refused = ask(conn)[-1]
        assert refused.type == "error" and refused.error.code == "budget_exceeded"
        assert "budget" in refused.error.message
        # voice activity: the provider starts a response by itself; it is billed, so it is charged
        conn.input_audio_buffer.commit()
        assert until(conn, {"response.done"})[-1].type == "response.done"
    assert [e["type"] for e in fake.realtime_events] == ["response.create", "response.create",
                                                         "input_audio_buffer.commit"]
    found = settled(db_path, 4)
    assert len(found) == 4
    charged = sum((Decimal(r["cost_usd"]) for r in found), Decimal(0))
    assert charged == 3 * cost
    with sqlite3.connect(db_path) as c:  # every hold settled by its row: spend equals the ledger exactly
        spent, reserved = c.execute("SELECT spent_nano, reserved_nano FROM budget_spend WHERE scope = 'account'"
                                    ).fetchone()
        open_holds = c.execute("SELECT count(*) FROM budget_reservations").fetchone()[0]
    assert spent == int(charged * 10**9) and reserved == 0 and open_holds == 0


def test_a_session_is_one_call_against_the_hour(make_proxy, fake, store, config, db_path):
    proxy = make_proxy({"main": f"reverse:{fake.url}@{{port}}"}, "[tiers.pro]\nrequests_per_hour = 2\n")
    store.create_account("acme", "pro")
    key = store.create_key("acme", config, name="rt").key
    for _ in range(2):
        with client_for(proxy, key).realtime.connect(model=MODEL) as conn:
            until(conn, {"session.created"})
            for _ in range(3):
                assert ask(conn)[-1].type == "response.done"
    with pytest.raises(InvalidStatus) as refused:
        with client_for(proxy, key).realtime.connect(model=MODEL) as conn:
            conn.recv()
    assert refused.value.response.status_code == 429
    assert len([e for e in fake.realtime_events if e["type"] == "response.create"]) == 6


def test_the_query_model_is_checked_against_the_keys_list(make_proxy, fake, store, config):
    proxy = make_proxy({"main": f"reverse:{fake.url}@{{port}}"})
    store.create_account("acme", "pro")
    narrow = store.create_key("acme", config, name="mini-only", models=("gpt-4o-mini",)).key
    with pytest.raises(InvalidStatus) as refused:
        with client_for(proxy, narrow).realtime.connect(model=MODEL) as conn:
            conn.recv()
    assert refused.value.response.status_code == 403
    assert not [r for r in fake.received if "/realtime" in r.path]
