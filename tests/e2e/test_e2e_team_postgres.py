"""A team on one PostgreSQL: two gateways (separate mitmdump processes, separate confdirs,
as on two developer machines) and `serve`, exact together. A burst through both against an
hourly limit, concurrent budgeted calls against a budget that fits exactly 10, key changes
made through `serve` in force in every gateway at the call's return, a free account's key
cap under concurrent creation through two `serve`s, kill -9 of a gateway under load, and
the database server stopped under load. The URL carries a password that no output shows."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import Counter
from decimal import Decimal

import httpx2
import pytest

from aispendtrack.config import parse_config
from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.demo.fake.wire_core import UsageSpec
from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import open_store

from support.burst import burst
from support.harness import Proxy, Serve

PASSWORD = "team-s3cret"
CHAT = json.dumps({"model": "budget-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 7},
                  separators=(",", ":")).encode()
BOUND = (len(CHAT) + 7) * Decimal("0.001")  # what one call reserves and costs (see test_e2e_budgets.py)
PRICES = '[prices.budget-model]\ninput_mtok = 1000\noutput_mtok = 1000\n'
H = "x-aispendtrack-ratelimit-"


@pytest.fixture
def team_url(pg_dsn) -> str:
    """The team's database: a fresh one on the run's server, its URL with a password."""
    url = pg_dsn.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    open_store(url).close()
    return url


@pytest.fixture
def fake():
    usage = UsageSpec(input=len(CHAT), output=7, cache_read=0, cache_write=0, reasoning=0)
    with FakeProvider(usage=usage).start() as f:
        yield f


@pytest.fixture
def plane(tmp_path, team_url, fake):
    """`plane(config_text, gateways=2, serves=0)`: that many gateways and `serve`s on the team's
    database, each in a directory of its own; all stopped (and their output checked for the
    URL's password) at the end."""
    started = []

    def make(config_text: str = "", gateways: int = 2, serves: int = 0):
        out = []
        for i in range(gateways):
            where = tmp_path / f"gateway-{len(started)}"
            where.mkdir()
            out.append(Proxy(where, team_url, modes={"openai": f"reverse:{fake.url}@{{port}}"},
                             config_text=config_text).start())
            started.append(out[-1])
        for i in range(serves):
            where = tmp_path / f"serve-{len(started)}"
            where.mkdir()
            (where / "mitm.toml").write_text(config_text)
            out.append(Serve(where, team_url, where / "mitm.toml").start())
            started.append(out[-1])
        return out

    yield make
    for process in started:
        text = process.output()
        process.stop()
        assert PASSWORD not in text, "the database password landed in a log"


def rows(url: str, sql: str, params=()) -> list[tuple]:
    with open_store(url, migrate_schema=False) as store, store.connection() as conn:
        return conn.execute(sql, params).fetchall()


def settled(url: str, n: int, timeout: float = 15) -> None:
    """Wait until the gateways' writers committed `n` ledger rows."""
    deadline = time.monotonic() + timeout
    while (have := rows(url, "SELECT count(*) FROM calls")[0][0]) < n:
        assert time.monotonic() < deadline, f"{have} of {n} ledger rows"
        time.sleep(0.05)


def blast(jobs: list[tuple[Proxy, str]]) -> list[httpx2.Response]:
    async def run():
        limits = httpx2.Limits(max_connections=len(jobs), max_keepalive_connections=len(jobs))
        async with httpx2.AsyncClient(limits=limits, timeout=60) as client:
            return await asyncio.gather(*(
                client.post(g.url("openai") + "/v1/chat/completions", content=CHAT,
                            headers={HEADER: key, "content-type": "application/json", "authorization": "Bearer sk-x"})
                for g, key in jobs))

    return asyncio.run(run())


def call(gateway: Proxy, key: str) -> int:
    return httpx2.post(gateway.url("openai") + "/v1/chat/completions", content=CHAT, timeout=20,
                       headers={HEADER: key, "content-type": "application/json"}).status_code


def test_a_burst_of_20_through_two_gateways_gets_exactly_the_5_an_hour(plane, team_url, fake):
    config_text = "[tiers.pro]\nrequests_per_hour = 5\n" + PRICES
    with open_store(team_url) as store:
        store.create_account("acme", "pro")
        key = store.create_key("acme", parse_config({}), name="burst")
    g1, g2 = plane(config_text)
    started = time.time()
    responses = blast([(g, key.key) for _ in range(10) for g in (g1, g2)])
    ended = time.time()
    assert Counter(r.status_code for r in responses) == {200: 5, 429: 15}
    assert len(fake.received) == 5
    ok = [r for r in responses if r.status_code == 200]
    assert sorted(int(r.headers[H + "remaining-requests-hour"]) for r in ok) == [0, 1, 2, 3, 4]
    # retry-after: when the first of the 5 leaves the window, from whichever gateway answered
    for r in (r for r in responses if r.status_code == 429):
        ms = int(r.headers["retry-after-ms"])
        assert math.floor((started + 3600 - ended) * 1000) <= ms <= 3600 * 1000, ms
        assert r.headers["retry-after"] == str(math.ceil(ms / 1000)) == r.headers[H + "reset-requests-hour"]
    settled(team_url, 20)
    outcomes = Counter(o for (o,) in rows(team_url, "SELECT outcome FROM calls WHERE key_id = ?", [key.id]))
    assert outcomes == {"forwarded": 5, "rate_limited": 15}
    assert call(g1, key.key) == 429 and call(g2, key.key) == 429 and len(fake.received) == 5


def test_100_budgeted_calls_through_two_gateways_get_exactly_the_10_that_fit(plane, team_url, fake):
    with open_store(team_url) as store:
        store.create_account("acme", "enterprise")
        key = store.create_key("acme", parse_config({}), name="budgeted")
        store.set_budget("account", "acme", 10 * BOUND, "month", now=time.time())
    g1, g2 = plane(PRICES)
    responses = blast([(g, key.key) for _ in range(50) for g in (g1, g2)])
    assert Counter(r.status_code for r in responses) == {200: 10, 429: 90}
    assert len(fake.received) == 10
    settled(team_url, 100)
    spent, reserved = rows(team_url, "SELECT sum(spent_nano), sum(reserved_nano) FROM budget_spend "
                                     "WHERE scope = 'account' AND subject = 'acme'")[0]
    assert (Decimal(spent) / 10**9, Decimal(reserved or 0)) == (10 * BOUND, 0)  # settled to the nano-dollar
    costs = [Decimal(c) for (c,) in rows(team_url, "SELECT cost_usd FROM calls WHERE cost_usd IS NOT NULL")]
    assert sum(costs) == 10 * BOUND
    assert Counter(o for (o,) in rows(team_url, "SELECT outcome FROM calls")) == {"forwarded": 10,
                                                                                   "budget_exceeded": 90}


def test_keys_made_and_revoked_through_serve_are_in_force_in_every_gateway_at_once(plane, team_url, fake):
    config_text = "[tiers.pro]\nmax_keys = 50\n" + PRICES
    with open_store(team_url) as store:
        store.create_account("acme", "pro")
        owner = store.create_key("acme", parse_config({"tiers": {"pro": {"max_keys": 50}}}), name="owner").key
    g1, g2, serve = plane(config_text, serves=1)
    api = httpx2.Client(base_url=serve.url, headers={HEADER: owner}, timeout=20)
    for i in range(8):
        made = api.post("/v1/keys", json={"name": f"loop-{i}"})
        assert made.status_code == 201, made.text
        new = made.json()
        assert call(g2 if i % 2 else g1, new["key"]) == 200  # the very next request, in the other gateway
        forwarded = len(fake.received)
        assert api.delete(f"/v1/keys/{new['id']}").status_code == 204
        assert [call(g, new["key"]) for g in (g1, g2)] == [401, 401]  # refused at the return, everywhere
        assert len(fake.received) == forwarded
    api.close()


def test_20_concurrent_key_creations_through_two_serves_on_a_free_account_make_exactly_one(plane, team_url):
    config_text = '[tiers.free]\nmax_keys = 2\npermissions = ["calls", "dashboard", "api"]\n'
    config = parse_config({"tiers": {"free": {"max_keys": 2, "permissions": ["calls", "dashboard", "api"]}}})
    with open_store(team_url) as store:
        store.create_account("solo", "free")
        owner = store.create_key("solo", config, name="owner").key
    s1, s2 = plane(config_text, gateways=0, serves=2)

    async def run():
        async with httpx2.AsyncClient(timeout=30) as client:
            return await asyncio.gather(*(client.post(s.url + "/v1/keys", json={"name": f"k{i}"}, headers={HEADER: owner})
                                          for i in range(10) for s in (s1, s2)))

    statuses = Counter(r.status_code for r in asyncio.run(run()))
    assert statuses[201] == 1 and sum(statuses.values()) == 20 and statuses.keys() <= {201, 403, 409}, statuses
    assert rows(team_url, "SELECT count(*) FROM keys k JOIN accounts a ON a.id = k.account_id "
                          "WHERE a.name = 'solo'")[0][0] == 2


def test_kill9_of_a_gateway_under_load_loses_no_completed_call(plane, team_url, fake):
    fake.chunks = 6
    with open_store(team_url) as store:
        store.create_account("acme", "pro")
        key = store.create_key("acme", parse_config({}), name="load").key
    g1, g2 = plane()
    stop, lock, done = threading.Event(), threading.Lock(), []
    threads = [threading.Thread(target=burst, args=(g1, key, stop, done, lock, t, "openai")) for t in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while len(done) < 40 and time.time() < deadline:
        time.sleep(0.002)
    g1.kill9()  # every thread has a call in flight
    stop.set()
    for t in threads:
        t.join(15)
    completed = list(done)
    assert len(completed) >= 40
    recorded = {req for req, served in rows(team_url, "SELECT request_model, model FROM calls "
                                                      "WHERE outcome = 'forwarded' AND status = 200") if req == served}
    missing = sorted(set(completed) - recorded)
    assert not missing, f"{len(missing)} completed calls have no row: {missing[:10]}"
    assert call(g2, key) == 200  # the team's other gateway goes on


def test_the_database_stopped_under_load_means_503s_only_and_service_back_by_itself(tmp_path, fake):
    from aispendtrack_dev.pgserver import PgServer

    with PgServer(fsync=False) as server:
        url = server.create_database().replace("postgres@", f"postgres:{PASSWORD}@", 1)
        with open_store(url) as store:
            store.create_account("acme", "pro")
            key = store.create_key("acme", parse_config({}), name="load").key
        (tmp_path / "g").mkdir()
        gateway = Proxy(tmp_path / "g", url, modes={"openai": f"reverse:{fake.url}@{{port}}"}).start()
        seen: list[tuple[float, float, int]] = []  # (sent, answered, status)
        stop = threading.Event()

        def load():
            with httpx2.Client(timeout=30) as client:
                while not stop.is_set():
                    sent = time.time()
                    try:
                        status = client.post(gateway.url("openai") + "/v1/chat/completions", content=CHAT,
                                             headers={HEADER: key, "content-type": "application/json"}).status_code
                    except httpx2.HTTPError:
                        status = 0
                    seen.append((sent, time.time(), status))
                    time.sleep(0.02)

        threads = [threading.Thread(target=load) for _ in range(3)]
        try:
            for t in threads:
                t.start()
            # serving first (a loaded box may take a moment to open the pool's connections), then 2 s more
            warm = time.time() + 20
            while not any(s == 200 for _, _, s in seen) and time.time() < warm:
                time.sleep(0.05)
            time.sleep(2)
            down = time.time()
            server.stop("fast")
            time.sleep(5)
            up = time.time()
            server.start()
            deadline = time.time() + 30
            while not any(s == 200 and sent > up for sent, _, s in seen) and time.time() < deadline:
                time.sleep(0.1)
            back = time.time()
            time.sleep(1)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
            output = gateway.output()
            gateway.stop()
        assert back < deadline, "no call was served after the database came back"
        assert PASSWORD not in output
        while_down = [s for sent, answered, s in seen if sent > down + 0.5 and answered < up]
        timeline = [(round(a - down, 2), round(b - down, 2), st) for a, b, st in seen if down - 1 < a < up + 1]
        assert while_down and set(while_down) == {503}, (Counter(while_down), timeline)
        served = min((sent for sent, _, s in seen if s == 200), default=None)
        assert served is not None, Counter(s for _, _, s in seen)
        assert {s for sent, _, s in seen if served <= sent < down - 0.5} == {200}
        forwarded = [s for s in seen if s[2] == 200]
        with open_store(url, migrate_schema=False) as store, store.connection() as conn:
            n = conn.execute("SELECT count(*) FROM calls WHERE outcome = 'forwarded'").fetchone()[0]
        assert n == len(fake.received) >= len(forwarded)  # nothing went upstream without its row
