"""Real mitmdump, real SDKs, local fake provider: request limits end to end.

Limits come from a test config (small tier limits); time is moved with the limiter's
`aispendtrack_clock_offset_file` option (a file holding seconds added to its clock).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter

import anthropic
import httpx2
import openai
import pytest

from aispendtrack.store import keys
from aispendtrack.proxy.auth import HEADER
from aispendtrack.views.formats import fmt_duration
from aispendtrack.demo.fake.server import Fault

from support.sdk import Attempts, before_month_end, clock_option, next_utc_month_start, oa

H = "x-aispendtrack-ratelimit-"
MSG = [{"role": "user", "content": "hi"}]


def tiers(hourly, monthly) -> str:
    q = lambda v: f'"{v}"' if v == "unlimited" else str(v)  # noqa: E731
    return f"[tiers.free]\nrequests_per_hour = {q(hourly)}\nmonthly_calls = {q(monthly)}\n"


def free_key(store, config, name: str, tier: str = "free") -> keys.NewKey:
    store.create_account(name, tier)
    return store.create_key(name, config, name=name)


def modes(fake, anthropic_too: bool = False) -> dict[str, str]:
    m = {"openai": "reverse:" + fake.url + "@{port}"}
    if anthropic_too:
        m["anthropic"] = "reverse:" + fake.url + "@{port}"
    return m


def an(proxy, key, attempts: Attempts, **kw):
    """Anthropic client at the SDK's DEFAULT max_retries (2)."""
    return anthropic.Anthropic(base_url=proxy.url("anthropic"), api_key="sk-ant-test",
                               default_headers={HEADER: key},
                               http_client=anthropic.DefaultHttpxClient(event_hooks=attempts.hooks()), **kw)


def embed(proxy, key, text="x", name="openai", **kw) -> httpx2.Response:
    return httpx2.post(proxy.url(name) + "/v1/embeddings", json={"model": "text-embedding-3-small", "input": text},
                       headers={HEADER: key, **kw.pop("headers", {})}, timeout=30, **kw)


CONNECT_BATCH = 50  # below the listen backlog (asyncio's default 100): a SYN storm would only measure the kernel


async def _hammer(jobs: list[tuple[str, str, str]]) -> list[httpx2.Response]:
    """All requests in flight at once, each on its own connection: jobs are (base_url, key, input text).

    The connections are opened first, CONNECT_BATCH at a time (one client per batch, warmed
    with key-less GETs the proxy answers 401 and keeps alive), then every job is sent at once.
    """
    limits = httpx2.Limits(max_connections=CONNECT_BATCH, max_keepalive_connections=CONNECT_BATCH,
                           keepalive_expiry=60)
    batches = [jobs[i:i + CONNECT_BATCH] for i in range(0, len(jobs), CONNECT_BATCH)]
    clients = [httpx2.AsyncClient(limits=limits, timeout=60) for _ in batches]
    try:
        for client, batch in zip(clients, batches):
            warm = await asyncio.gather(*(client.get(url + "/v1/models") for url, _, _ in batch))
            assert {r.status_code for r in warm} == {401}
        start = asyncio.Event()

        async def one(client, url, key, text):
            await start.wait()
            return await client.post(url + "/v1/embeddings", json={"model": "text-embedding-3-small", "input": text},
                                     headers={HEADER: key})

        tasks = [asyncio.create_task(one(client, *job)) for client, batch in zip(clients, batches) for job in batch]
        await asyncio.sleep(0.05)
        start.set()
        return await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()


def hammer(jobs) -> list[httpx2.Response]:
    return asyncio.run(_hammer(jobs))


def upstream_inputs(fake) -> Counter:
    return Counter(r.json()["input"] for r in fake.received)


def rate_events(database, key_id) -> list[float]:
    return [ts for (ts,) in database.execute("SELECT ts FROM rate_events WHERE key_id = ? ORDER BY seq", [key_id])]


def monthly_calls(database, account) -> int:
    row = database.execute("SELECT sum(calls) FROM monthly_usage WHERE account = ?", [account]).fetchone()
    return row[0] or 0


def wait_for(predicate, timeout=3.0, what="condition"):
    deadline = time.time() + timeout
    while not (result := predicate()):
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


# -- 1, 7, 8: 200 concurrent against 100, other keys unaffected ---------------------------------------------


def test_200_concurrent_against_100_exactly_100_reach_upstream(make_proxy, fake, store, database, config):
    a = free_key(store, config, "hammered")
    b = free_key(store, config, "bystander", "pro")  # pro: tier defaults, not touched by the config
    proxy = make_proxy(modes(fake), config_text=tiers(100, "unlimited"))
    url = proxy.url("openai")
    jobs = [(url, a.key, "A")] * 200 + [(url, b.key, "B")] * 20
    responses = hammer(jobs)

    a_resp, b_resp = responses[:200], responses[200:]
    assert Counter(r.status_code for r in a_resp) == {200: 100, 429: 100}
    assert upstream_inputs(fake) == {"A": 100, "B": 20}  # exactly 100 of A's reached the provider
    # The other key was served throughout, with its own (pro) limits in its headers.
    assert [r.status_code for r in b_resp] == [200] * 20
    assert sorted(int(r.headers[H + "remaining-requests-hour"]) for r in b_resp) == list(range(10_000 - 20, 10_000))
    # Each admitted request got its own place in the window: remaining 99, 98, … 0, once each.
    ok = [r for r in a_resp if r.status_code == 200]
    assert sorted(int(r.headers[H + "remaining-requests-hour"]) for r in ok) == list(range(100))
    assert {r.headers[H + "limit-requests-hour"] for r in ok} == {"100"}
    assert all(3598 <= int(r.headers[H + "reset-requests-hour"]) <= 3600 for r in ok)
    assert not any(k.startswith(H + "limit-requests-month") for r in ok for k in r.headers)  # unlimited: no header
    for r in (r for r in a_resp if r.status_code == 429):
        assert r.headers["x-should-retry"] == "false"  # an hour-long wait: give up at once
        assert 3590 <= int(r.headers["retry-after"]) <= 3600
        assert math.ceil(int(r.headers["retry-after-ms"]) / 1000) == int(r.headers["retry-after"])
        assert r.headers[H + "remaining-requests-hour"] == "0"
        assert "hourly rate limit of 100 requests per hour" in r.json()["error"]["message"]
    assert len(rate_events(database, a.id)) == 100


# -- 2: two mitmdump processes on one database ---------------------------------------------------------------


def test_two_proxies_sharing_the_database_enforce_one_limit(make_proxy, fake, store, config):
    a = free_key(store, config, "shared")
    p1 = make_proxy(modes(fake), config_text=tiers(100, "unlimited"))
    p2 = make_proxy(modes(fake), config_text=tiers(100, "unlimited"))
    assert p1.proc.pid != p2.proc.pid and p1.log_path != p2.log_path
    jobs = [(p.url("openai"), a.key, name) for _ in range(100) for p, name in ((p1, "p1"), (p2, "p2"))]
    responses = hammer(jobs)

    assert Counter(r.status_code for r in responses) == {200: 100, 429: 100}
    received = upstream_inputs(fake)
    assert sum(received.values()) == 100
    ok = [r for r in responses if r.status_code == 200]
    assert sorted(int(r.headers[H + "remaining-requests-hour"]) for r in ok) == list(range(100))
    # One more through either proxy: still refused.
    assert embed(p1, a.key).status_code == 429 and embed(p2, a.key).status_code == 429
    assert len(fake.received) == 100


# -- 3, 9: monthly quota: no retry, one attempt, message with size and reset ---------------------------------


@pytest.mark.period
def test_monthly_quota_429_is_final_and_sdks_do_not_retry(make_proxy, fake, store, database, config, tmp_path):
    a = free_key(store, config, "monthly")
    clock = tmp_path / "clock"
    offset = before_month_end(clock)
    proxy = make_proxy(modes(fake, anthropic_too=True), config_text=tiers("unlimited", 3),
                       extra_args=clock_option(clock))
    for i in range(3):
        r = embed(proxy, a.key)
        assert r.status_code == 200
        assert r.headers[H + "remaining-requests-month"] == str(2 - i)
        assert r.headers[H + "limit-requests-month"] == "3"

    before = time.time() + offset
    r = embed(proxy, a.key)
    assert r.status_code == 429
    assert r.headers["x-should-retry"] == "false"
    expected = next_utc_month_start(before) - before
    assert abs(int(r.headers["retry-after"]) - expected) <= 2
    assert math.ceil(int(r.headers["retry-after-ms"]) / 1000) == int(r.headers["retry-after"])
    assert r.headers[H + "remaining-requests-month"] == "0"
    reset_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(next_utc_month_start(before)))
    msg = r.json()["error"]["message"]
    assert "monthly limit of 3 calls per calendar month" in msg and reset_iso in msg, msg

    seen = Attempts()
    with pytest.raises(openai.RateLimitError) as e:
        oa(proxy, a.key, seen).chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert len(seen.requests) == 1  # default max_retries=2, yet exactly one HTTP attempt
    assert e.value.status_code == 429
    assert "monthly limit of 3 calls" in e.value.message and reset_iso in e.value.message
    assert e.value.code == "quota_exceeded"

    seen = Attempts()
    with pytest.raises(anthropic.RateLimitError) as e:
        an(proxy, a.key, seen).messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=MSG)
    assert len(seen.requests) == 1
    assert e.value.body["error"]["type"] == "rate_limit_error"
    assert "monthly limit of 3 calls" in e.value.message and reset_iso in e.value.message

    assert len(fake.received) == 3
    assert monthly_calls(database, "monthly") == 3
    # The ledger (metering step) has one quota_exceeded row per refused call, 429 to the client.
    wait_for(lambda: database.execute(
        "SELECT count(*) FROM calls WHERE outcome = 'quota_exceeded' AND status = 429").fetchone()[0] == 3,
        what="3 quota_exceeded rows in the ledger")


# -- 4, 9: hourly 429: exact retry-after, SDKs wait for it and their retry succeeds ---------------------------


def test_hourly_429_exact_retry_after_and_sdk_retry_succeeds(make_proxy, fake, store, database, config, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("0")
    a = free_key(store, config, "hourly")
    proxy = make_proxy(modes(fake, anthropic_too=True), config_text=tiers(2, "unlimited"),
                       extra_args=clock_option(clock))
    assert embed(proxy, a.key).status_code == 200
    assert embed(proxy, a.key).status_code == 200
    t1, t2 = rate_events(database, a.id)

    def move_to(at: float) -> float:
        """Set the proxy clock so that its `now` is `at`; returns the offset."""
        offset = at - time.time()
        clock.write_text(repr(offset))
        return offset

    # 1.5 s before the oldest request leaves the window.
    offset = move_to(t1 + 3600 - 1.5)
    lo = time.time() + offset
    r = embed(proxy, a.key)
    hi = time.time() + offset
    assert r.status_code == 429
    assert r.headers["x-should-retry"] == "true"
    ms = int(r.headers["retry-after-ms"])
    assert math.ceil((t1 + 3600 - hi) * 1000) <= ms <= math.ceil((t1 + 3600 - lo) * 1000)
    retry_after = math.ceil(ms / 1000)  # 2, unless the machine took > 0.5 s to answer
    assert r.headers["retry-after"] == str(retry_after) == r.headers[H + "reset-requests-hour"]
    msg = r.json()["error"]["message"]
    assert f"hourly rate limit of 2 requests per hour for key {a.id} reached" in msg
    assert f"next request admitted in {fmt_duration(retry_after)}" in msg

    # The OpenAI SDK (default retries) waits retry-after-ms, then its retry is admitted.
    move_to(t1 + 3600 - 1.5)
    seen = Attempts()
    out = oa(proxy, a.key, seen).chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert out.choices[0].message.content
    assert [s for _, s, _ in seen.responses] == [429, 200]
    waited_ms = (seen.requests[1] - seen.responses[0][0]) * 1000
    first_ms = int(seen.responses[0][2]["retry-after-ms"])
    assert 0 < first_ms <= 1500
    assert first_ms - 50 <= waited_ms <= first_ms + 1500, (first_ms, waited_ms)
    assert seen.responses[1][2][H + "remaining-requests-hour"] == "0"

    # Same for the Anthropic SDK, now against the second request's expiry.
    move_to(t2 + 3600 - 1.5)
    seen = Attempts()
    msg = an(proxy, a.key, seen).messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=MSG)
    assert msg.content[0].text
    assert [s for _, s, _ in seen.responses] == [429, 200]
    first_ms = int(seen.responses[0][2]["retry-after-ms"])
    assert first_ms - 50 <= (seen.requests[1] - seen.responses[0][0]) * 1000 <= first_ms + 1500
    assert len(fake.received) == 4  # the 429s never reached the provider


# -- 5: refused requests do not consume quota -----------------------------------------------------------------


def test_refused_requests_consume_nothing(make_proxy, fake, store, database, config, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("0")
    a = free_key(store, config, "closed")
    proxy = make_proxy(modes(fake), config_text=tiers(3, 1000), extra_args=clock_option(clock))
    url = proxy.url("openai")
    assert [embed(proxy, a.key).status_code for _ in range(3)] == [200] * 3
    # 50 on the closed limit (429) and 20 with unknown keys (401), all at once.
    responses = hammer([(url, a.key, "closed")] * 50 + [(url, keys.generate_key(), "unknown")] * 20)
    assert [r.status_code for r in responses] == [429] * 50 + [401] * 20
    assert len(fake.received) == 3
    assert len(rate_events(database, a.id)) == 3
    assert monthly_calls(database, "closed") == 3  # the monthly counter did not move either

    clock.write_text("3601")  # every counted request has left the window
    responses = hammer([(url, a.key, "reopened")] * 10)
    assert Counter(r.status_code for r in responses) == {200: 3, 429: 7}  # exactly the limit, not fewer
    assert upstream_inputs(fake)["reopened"] == 3
    assert monthly_calls(database, "closed") == 6


# -- 6: a rotated key shares its counter with its successor --------------------------------------------------


def test_rotated_key_shares_the_hourly_counter(make_proxy, fake, store, database, config):
    old = free_key(store, config, "rotating")
    new = store.rotate_key(old.id, config)  # default grace: both secrets valid
    assert new.id == old.id and new.key != old.key
    proxy = make_proxy(modes(fake), config_text=tiers(2, "unlimited"))
    assert embed(proxy, old.key).status_code == 200
    r = embed(proxy, old.key)
    assert r.status_code == 200 and r.headers[H + "remaining-requests-hour"] == "0"
    r = embed(proxy, new.key)
    assert r.status_code == 429
    assert f"for key {old.id} reached" in r.json()["error"]["message"]
    assert embed(proxy, old.key).status_code == 429
    # A wait of about an hour: x-should-retry false, so the SDK (default retries) makes
    # one attempt and raises RateLimitError saying which limit.
    seen = Attempts()
    with pytest.raises(openai.RateLimitError) as e:
        oa(proxy, new.key, seen).chat.completions.create(model="gpt-4o-mini", messages=MSG)
    assert [s for _, s, _ in seen.responses] == [429]
    assert seen.responses[0][2]["x-should-retry"] == "false"
    assert int(seen.responses[0][2]["retry-after"]) > 3500
    assert f"hourly rate limit of 2 requests per hour for key {old.id} reached" in e.value.message
    assert len(fake.received) == 2
    assert len(rate_events(database, old.id)) == 2


# -- 7: our headers on forwarded responses; the provider's pass through untouched ----------------------------


@pytest.mark.period
def test_status_headers_added_and_provider_ratelimit_headers_untouched(make_proxy, fake, store, database, config, tmp_path):
    a = free_key(store, config, "headers")
    a2 = free_key(store, config, "headers2")
    clock = tmp_path / "clock"
    offset = before_month_end(clock)
    proxy = make_proxy(modes(fake, anthropic_too=True), config_text=tiers(5, 7), extra_args=clock_option(clock))
    provider_headers = [
        ("x-ratelimit-limit-requests", "5000"),
        ("x-ratelimit-remaining-requests", "4999"),
        ("x-ratelimit-reset-requests", "12ms"),
        ("x-ratelimit-limit-tokens", "160000"),
        ("anthropic-ratelimit-requests-limit", "50"),
        ("retry-after", "7"),  # also the provider's: not ours to change on a forwarded response
    ]
    completion = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                               "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    fake.fail(Fault.error(200, completion, provider_headers))
    before = time.time() + offset
    r = httpx2.post(proxy.url("openai") + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MSG},
                    headers={HEADER: a.key})
    after = time.time() + offset
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "ok"
    for name, value in provider_headers:
        assert r.headers.get_list(name) == [value], name
    assert r.headers[H + "limit-requests-hour"] == "5"
    assert r.headers[H + "remaining-requests-hour"] == "4"
    assert 3599 <= int(r.headers[H + "reset-requests-hour"]) <= 3600
    assert r.headers[H + "limit-requests-month"] == "7"
    assert r.headers[H + "remaining-requests-month"] == "6"
    # counted at some instant of the request: the reset is ceil'd from then to the next month
    month_start = next_utc_month_start(before)
    assert month_start - after <= int(r.headers[H + "reset-requests-month"]) <= math.ceil(month_start - before)
    assert not any(k.lower().startswith(H) for k, _ in fake.received[0].headers)  # not sent upstream

    # SDK view, Anthropic listener: remaining counts down with each call.
    for remaining in (3, 2, 1, 0):
        raw = anthropic.Anthropic(base_url=proxy.url("anthropic"), api_key="sk-ant-test",
                                  default_headers={HEADER: a.key}).messages.with_raw_response.create(
            model="claude-sonnet-4-5", max_tokens=20, messages=MSG)
        assert raw.headers[H + "remaining-requests-hour"] == str(remaining)
        assert raw.headers[H + "remaining-requests-month"] == str(remaining + 2)
    # A provider 429 is the provider's: forwarded as is (its own retry-after), not made ours.
    fake.fail(Fault.error(429, headers=[("retry-after", "3"), ("x-ratelimit-remaining-requests", "0")]))
    r = embed(proxy, a2.key)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3" and r.headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-should-retry" not in r.headers


# -- an hourly 429 with a long wait must not put the Anthropic SDK to sleep for hours ---------------------


def test_anthropic_sdk_is_not_put_to_sleep_for_an_hour(make_proxy, fake, store, config, monkeypatch):
    a = free_key(store, config, "sleepy")
    proxy = make_proxy(modes(fake, anthropic_too=True), config_text=tiers(1, "unlimited"))
    assert embed(proxy, a.key).status_code == 200
    slept: list[float] = []
    monkeypatch.setattr(anthropic._base_client.time, "sleep", slept.append)  # record, do not wait
    seen = Attempts()
    with pytest.raises(anthropic.RateLimitError):
        an(proxy, a.key, seen).messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=MSG)
    # x-should-retry: true with an hour-long wait would make anthropic 2.x sleep ~3599 s twice.
    assert slept == [] and len(seen.responses) == 1, slept
