"""The limiter's budget path, loaded alone in mitmproxy's test context on a real SQLite file:
a budgeted key is decided in `request` once the body is read — its dollar bound
(`proxy/charge.py`) reserved in the check-and-count transaction and the reservation id
kept on the flow state, a call over budget answered 429 `budget_exceeded`, a model
without a price answered 403 before any check."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from mitmproxy.test import tflow

from aispendtrack.config import parse_config
from aispendtrack.limits import budget as rules
from aispendtrack.proxy.limits import Limiter
from aispendtrack.proxy.state import META, FlowState, state_of
from aispendtrack.proxy.webview import MARK_LIMITED, MARK_REJECTED
from aispendtrack.store import db as dbmod
from aispendtrack.store import open_store
from aispendtrack.store.ledger_schema import Outcome
from support.limiter import run as run_limiter, spoil

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC).timestamp() + 0.25  # 43199.75 s before December
# "m" is priced only here ($1000 / $2000 / $1500 per million input / output / cache-write tokens)
CONFIG = parse_config({"prices": {"m": {"input_mtok": 1000, "output_mtok": 2000, "cache_write_mtok": 1500}}},
                      source="test")
BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}).encode()
# the bound: body bytes as cache writes (dearer than input) plus max_tokens as output
BOUND = rules.to_nano(len(BODY) * Decimal("0.0015") + 10 * Decimal("0.002"))


def budgeted_flow(body=BODY, *, hourly=None, tier="pro"):
    f = tflow.tflow()
    f.request.path = "/v1/chat/completions"
    f.request.raw_content = body
    f.metadata[META] = FlowState("openai", "chat", "openai", NOW, key_id="key_1", account="acme",
                                 requests_per_hour=hourly, tier=tier, budgeted=True)
    return f


def run(limiter: Limiter, scenario, *, start=True):
    """`scenario(tctx)` with the limiter loaded, its clock fixed at NOW, (unless `start=False`) started."""
    return run_limiter(limiter, scenario, start=start, clock=lambda: NOW)


def cycle_all(lim, flows):
    async def scenario(tctx):
        for f in flows:
            await tctx.cycle(lim, f)

    return scenario


def key_budget(db_path, usd):
    with open_store(db_path) as store:
        store.set_budget("key", "key_1", usd, "month", now=NOW)


def rows(db_path, sql):
    database = dbmod.connect(db_path)
    try:
        return database.execute(sql).fetchall()
    finally:
        database.conn.close()


def test_bound_is_reserved_and_its_id_kept_for_the_ledger(proxy_rt, db_path):
    key_budget(db_path, "1")
    lim = Limiter(proxy_rt(CONFIG, writer=False))
    f = budgeted_flow(hourly=5)

    async def scenario(tctx):
        await tctx.cycle(lim, f)
        f.response = tflow.tresp()
        lim.responseheaders(f)

    run(lim, scenario)
    state = state_of(f)
    assert state.outcome == Outcome.FORWARDED and state.error is None and f.marked == ""
    [(rid, amount)] = rows(db_path, "SELECT id, amount_nano FROM budget_reservations")
    assert state.reservation_id == rid and amount == BOUND
    assert rows(db_path, "SELECT scope, subject, spent_nano, reserved_nano FROM budget_spend") == [
        ("key", "key_1", 0, BOUND)]
    assert rows(db_path, "SELECT key_id, seq FROM rate_events") == [("key_1", 1)]  # counted once, in `request`
    expected = {
        "x-aispendtrack-ratelimit-limit-requests-hour": "5",
        "x-aispendtrack-ratelimit-remaining-requests-hour": "4",
        "x-aispendtrack-ratelimit-reset-requests-hour": "3600",
        "x-aispendtrack-budget-limit-usd": "1",
        "x-aispendtrack-budget-remaining-usd": rules.usd_text(10**9 - BOUND),
        "x-aispendtrack-budget-reset-seconds": "43200",
    }
    assert state.limit_headers == expected
    assert {k: f.response.headers[k] for k in expected} == expected


def test_a_call_over_budget_is_refused_429_with_budget_headers_and_text(proxy_rt, db_path):
    key_budget(db_path, "0.2")  # room for one bound, not two
    lim = Limiter(proxy_rt(CONFIG, writer=False))
    ok, refused = budgeted_flow(), budgeted_flow()
    run(lim, cycle_all(lim, [ok, refused]))
    assert ok.response is None
    state = state_of(refused)
    message = (f"AiSpendTrack budget exceeded: the month budget of $0.2 for key key_1 (month 2026-11) has $0 spent"
               f" and ${rules.usd_text(BOUND)} held by calls in flight; this call may cost up to"
               f" ${rules.usd_text(BOUND)}; it resets at 2026-12-01T00:00:00Z (in 12 h)")
    assert state.outcome == Outcome.BUDGET_EXCEEDED and state.error == message
    assert state.reservation_id is None and state.limit_headers is None
    assert refused.marked == MARK_LIMITED and refused.comment == message
    r = refused.response
    assert r.status_code == 429
    assert json.loads(r.content) == {"error": {"message": message, "type": "rate_limit_error", "param": None,
                                               "code": "budget_exceeded"}}
    assert dict(r.headers) == {
        "content-type": "application/json",
        "retry-after": "43200",
        "retry-after-ms": "43199750",
        "x-should-retry": "false",
        "x-aispendtrack-budget-limit-usd": "0.2",
        "x-aispendtrack-budget-remaining-usd": rules.usd_text(2 * 10**8 - BOUND),
        "x-aispendtrack-budget-reset-seconds": "43200",
        "content-length": str(len(r.content)),
    }
    assert rows(db_path, "SELECT COUNT(*) FROM budget_reservations") == [(1,)]  # the refused call held nothing
    assert rows(db_path, "SELECT COUNT(*) FROM rate_events") == [(1,)]  # nor was it counted


def test_a_model_without_a_price_is_refused_403_before_any_check(proxy_rt, db_path):
    key_budget(db_path, "1")
    lim = Limiter(proxy_rt(CONFIG, writer=False))
    f = budgeted_flow(json.dumps({"model": "no-such-model-x", "max_tokens": 1}).encode())
    run(lim, cycle_all(lim, [f]))
    message = ("AiSpendTrack cannot hold a budget for model no-such-model-x: it has no known price, so its cost"
               " could exceed the budget; add it under [prices] in the config, or set [budgets] unpriced = \"allow\"")
    state = state_of(f)
    assert state.outcome == Outcome.BUDGET_EXCEEDED and state.error == message
    assert f.marked == MARK_REJECTED and f.comment == message
    r = f.response
    assert r.status_code == 403
    assert json.loads(r.content) == {"error": {"message": message, "type": "invalid_request_error",
                                               "param": None, "code": "budget_unpriced_model"}}
    assert r.headers["x-should-retry"] == "false" and "retry-after" not in r.headers
    assert state.reservation_id is None and state.limit_headers is None
    assert rows(db_path, "SELECT COUNT(*) FROM budget_reservations") == [(0,)]
    assert rows(db_path, "SELECT COUNT(*) FROM rate_events") == [(0,)]


def test_a_limiter_not_started_prices_with_the_config_and_fails_closed(proxy_rt, db_path):
    """`request` before `start()`: the bound is still priced with the config's prices ("m"
    is known only there, so no 403), then the check cannot run: 503."""
    lim = Limiter(proxy_rt(CONFIG, writer=False))
    f = budgeted_flow()
    run(lim, cycle_all(lim, [f]), start=False)
    assert f.response.status_code == 503
    assert state_of(f).error == "AiSpendTrack could not check limits: the limiter is stopped"


@pytest.mark.parametrize("case", ["answered", "errored", "not live", "not ours", "not budgeted"])
def test_flows_request_must_not_check_are_left_alone(proxy_rt, db_path, case):
    """A stopped limiter answers 503 to anything `request` checks, so a flow left without a
    503 proves it was not checked."""
    lim = Limiter(proxy_rt(CONFIG, writer=False))
    f = budgeted_flow()
    if case != "not budgeted":
        spoil(f, case)
    else:
        state_of(f).budgeted = False  # limited by the hour: decided in `requestheaders`
        state_of(f).requests_per_hour = 5
    before = f.response

    async def scenario(tctx):
        await lim.request(f)

    run(lim, scenario, start=False)
    assert f.response is before and f.marked == ""
