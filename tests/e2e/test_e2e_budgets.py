"""Real mitmdump, real SDKs, the fake provider: dollar budgets end to end.

The model `budget-model` is priced by the test config at $0.001 per token, and the fake
reports exactly the usage the proxy reserves for BODY (input = its bytes, output = its
max_tokens), so every settled call costs exactly its bound and "a budget that fits
exactly 10" is exact whatever the timing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from decimal import Decimal

import httpx2
import openai
import pytest

from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.demo.fake.wire_core import UsageSpec
from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import budgets, keys

from support.clock import within_one
from support.sdk import HOUR, Attempts, before_month_end, clock_option, next_utc_month_start, oa

MODEL = "budget-model"
BODY = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 7},
                  separators=(",", ":")).encode()
PER_TOKEN = Decimal("0.001")
BOUND = (len(BODY) + 7) * PER_TOKEN  # what one call reserves, and costs
CONFIG = f'[prices.{MODEL}]\ninput_mtok = 1000\noutput_mtok = 1000\n'
B = "x-aispendtrack-budget-"


@pytest.fixture
def fake():
    usage = UsageSpec(input=len(BODY), output=7, cache_read=0, cache_write=0, reasoning=0)
    with FakeProvider(usage=usage).start() as f:
        yield f


def modes(fake) -> dict[str, str]:
    return {"openai": "reverse:" + fake.url + "@{port}"}


def budgeted_key(store, config, usd, period="month", scope="account") -> keys.NewKey:
    store.create_account("acme", "enterprise")
    new = store.create_key("acme", config, name="budgeted")
    store.set_budget(scope, "acme" if scope == "account" else new.id, usd, period, now=time.time())
    return new


async def _blast(urls_keys: list[tuple[str, str]]) -> list[httpx2.Response]:
    limits = httpx2.Limits(max_connections=len(urls_keys), max_keepalive_connections=len(urls_keys))
    async with httpx2.AsyncClient(limits=limits, timeout=60) as client:
        return await asyncio.gather(*(
            client.post(url + "/v1/chat/completions", content=BODY,
                        headers={HEADER: key, "content-type": "application/json", "authorization": "Bearer sk-x"})
            for url, key in urls_keys))


def blast(urls_keys) -> list[httpx2.Response]:
    return asyncio.run(_blast(urls_keys))


def spend(database, scope="account", subject="acme") -> tuple[Decimal, Decimal, Decimal]:
    row = database.execute("SELECT sum(spent_nano), sum(reserved_nano), sum(overshoot_nano) FROM budget_spend"
                           " WHERE scope = ? AND subject = ?", [scope, subject]).fetchone()
    return tuple(Decimal(v or 0) / 10**9 for v in row)


def ledger_cost(database) -> Decimal:
    return sum((Decimal(c) for (c,) in database.execute(
        "SELECT cost_usd FROM calls WHERE cost_usd IS NOT NULL").fetchall()), Decimal(0))


@pytest.mark.period
def test_100_concurrent_against_a_budget_of_exactly_10(make_proxy, fake, store, database, config, tmp_path):
    k = budgeted_key(store, config, 10 * BOUND)
    clock = tmp_path / "clock"
    offset = before_month_end(clock)
    proxy = make_proxy(modes(fake), config_text=CONFIG, extra_args=clock_option(clock))
    responses = blast([(proxy.url("openai"), k.key)] * 100)
    assert Counter(r.status_code for r in responses) == {200: 10, 429: 90}
    assert len(fake.received) == 10
    assert spend(database) == (10 * BOUND, 0, 0)  # settled to the nano-dollar, nothing held
    assert ledger_cost(database) == 10 * BOUND
    outcomes = Counter(o for (o,) in database.execute("SELECT outcome FROM calls").fetchall())
    assert outcomes == {"forwarded": 10, "budget_exceeded": 90}
    ok = [r for r in responses if r.status_code == 200]
    assert sorted(Decimal(r.headers[B + "remaining-usd"]) for r in ok) == [i * BOUND for i in range(10)]
    assert {Decimal(r.headers[B + "limit-usd"]) for r in ok} == {10 * BOUND}
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["x-should-retry"] == "false"
    resets = next_utc_month_start(time.time() + offset)
    assert resets - (time.time() + offset) <= int(refused.headers["retry-after"]) <= HOUR
    assert int(refused.headers[B + "reset-seconds"]) == int(refused.headers["retry-after"])
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert f"month budget of ${format((10 * BOUND).normalize(), 'f')} for account acme" in error["message"]
    assert f"resets at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(resets))}" in error["message"]


@pytest.mark.period
def test_two_proxies_on_one_database_share_the_budget(make_proxy, fake, store, database, config, tmp_path):
    k = budgeted_key(store, config, 10 * BOUND, period="day", scope="key")
    clock = tmp_path / "clock"
    before_month_end(clock)
    p1, p2 = (make_proxy(modes(fake), config_text=CONFIG, extra_args=clock_option(clock)) for _ in range(2))
    responses = blast([(p.url("openai"), k.key) for _ in range(50) for p in (p1, p2)])
    assert Counter(r.status_code for r in responses) == {200: 10, 429: 90}
    assert len(fake.received) == 10
    assert spend(database, "key", k.id) == (10 * BOUND, 0, 0)


@pytest.mark.period
def test_sdk_stream_settles_at_its_end_and_a_new_month_starts_at_zero(make_proxy, fake, store, database, config, tmp_path):
    # The SDK's stream bodies are longer than BODY (bound ~$0.14), each call costs BOUND
    # ($0.09): two fit, a third does not.
    budget = Decimal("0.25")
    k = budgeted_key(store, config, budget)
    clock = tmp_path / "clock"
    offset = before_month_end(clock)
    proxy = make_proxy(modes(fake), config_text=CONFIG, extra_args=clock_option(clock))
    attempts = Attempts()
    client = oa(proxy, k.key, attempts)
    for _ in range(2):
        chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                                     max_tokens=7, stream=True, stream_options={"include_usage": True}))
        assert chunks[-1].usage is not None
    assert spend(database) == (2 * BOUND, 0, 0)  # both settled to their real cost when their streams ended
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=7,
                                       stream=True, stream_options={"include_usage": True})
    assert e.value.body["code"] == "budget_exceeded"
    assert len(attempts.requests) == 3  # x-should-retry: false: the SDK did not retry
    now = time.time()
    next_month = budgets.rules.period_bounds("month", now + offset)[2]
    clock.write_text(str(next_month - now + 1))
    r = client.chat.completions.with_raw_response.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                                         max_tokens=1)
    assert r.http_response.status_code == 200
    assert Decimal(r.headers[B + "remaining-usd"]) == budget - (len(r.http_request.content) + 1) * PER_TOKEN


def test_aborted_stream_settles_its_bound_and_errors_settle_nothing(make_proxy, fake, store, database, config):
    k = budgeted_key(store, config, 100 * BOUND)
    proxy = make_proxy(modes(fake), config_text=CONFIG)
    url = proxy.url("openai") + "/v1/chat/completions"
    headers = {HEADER: k.key, "authorization": "Bearer sk-x"}
    stream_body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 7, "stream": True,
                   "stream_options": {"include_usage": True}}
    # cut by the provider after 2 frames: no usage ever arrived, so the whole bound is charged
    with httpx2.stream("POST", url, json=stream_body, headers={**headers, "x-fake-fault": "reset:2"}, timeout=30) as r:
        with pytest.raises(httpx2.HTTPError):
            for _ in r.iter_bytes():
                pass
    sent = fake.received[-1].body
    r = httpx2.post(url, json={"model": MODEL, "messages": []}, headers={**headers, "x-fake-fault": "500"}, timeout=30)
    assert r.status_code == 500
    deadline = time.time() + 5
    while spend(database)[1] and time.time() < deadline:
        time.sleep(0.05)
    spent, held, over = spend(database)
    assert (spent, held, over) == ((len(sent) + 7) * PER_TOKEN, 0, 0)


def test_unpriced_model_under_a_budget_is_refused(make_proxy, fake, store, config):
    k = budgeted_key(store, config, "5")
    proxy = make_proxy(modes(fake), config_text=CONFIG)
    r = httpx2.post(proxy.url("openai") + "/v1/chat/completions", json={"model": "no-such-model-xyz", "messages": []},
                    headers={HEADER: k.key}, timeout=30)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "budget_unpriced_model"
    assert "no-such-model-xyz" in r.json()["error"]["message"] and "[budgets] unpriced" in r.json()["error"]["message"]
    assert fake.received == []


@pytest.mark.period
def test_unbudgeted_keys_get_no_budget_headers_and_a_new_budget_holds_at_once(make_proxy, fake, store, database, config):
    proxy = make_proxy(modes(fake), config_text=CONFIG)
    accounts = iter(("free-spender", "free-spender-2"))

    def call_then_budget():
        """A call of an unbudgeted key, then a day budget of 1.5 calls set while the proxy runs,
        then the next call: (first response, reservations it held, next response)."""
        account = next(accounts)
        store.create_account(account, "enterprise")
        new = store.create_key(account, config)
        (r,) = blast([(proxy.url("openai"), new.key)])
        held = database.execute("SELECT count(*) FROM budget_reservations WHERE account = ?", [account]).fetchone()
        store.set_budget("account", account, BOUND + BOUND / 2, "day", now=time.time())
        (r1,) = blast([(proxy.url("openai"), new.key)])
        return r, held, r1

    # the first call's cost counts in its day: when that day ends before the next call, both are made again
    (r, held, r1), _ = within_one(call_then_budget)
    assert r.status_code == 200 and not any(h.startswith(B) for h in r.headers)
    assert held == (0,)
    assert r1.status_code == 429 and r1.json()["error"]["code"] == "budget_exceeded"
    assert f"has ${format(BOUND.normalize(), 'f')} spent" in r1.json()["error"]["message"]
