"""The limiter step, loaded alone in mitmproxy's test context: every check runs on the
store writer's thread, the event loop never waits on SQLite, and a check that cannot be
made refuses the request (503)."""

import asyncio
import json
import logging
import sqlite3
import time

import pytest

from mitmproxy.test import taddons, tflow

from aispendtrack.proxy.limits import Limiter, offset_clock
from aispendtrack.proxy.state import state_of
from aispendtrack.proxy.webview import MARK_LIMITED, MARK_UNAVAILABLE
from aispendtrack.store import db as dbmod
from aispendtrack.store import limits as limits_store
from aispendtrack.store.ledger_schema import Outcome

from support.limiter import limited_flow, run, spoil




def test_counts_and_refuses_over_the_limit(proxy_rt, db_path, config):
    lim = Limiter(proxy_rt(config, writer=False))
    flows = [limited_flow() for _ in range(3)]

    async def scenario(tctx):
        for f in flows:
            await tctx.cycle(lim, f)

    run(lim, scenario)
    assert [f.response for f in flows[:2]] == [None, None]
    assert flows[2].response.status_code == 429
    assert state_of(flows[2]).outcome == "rate_limited"
    assert state_of(flows[0]).limit_headers["x-aispendtrack-ratelimit-remaining-requests-hour"] == "1"


def test_status_headers_reach_the_forwarded_response(proxy_rt, db_path, config):
    lim = Limiter(proxy_rt(config, writer=False))
    f = limited_flow()

    async def scenario(tctx):
        await tctx.cycle(lim, f)  # requestheaders, request: admitted
        f.response = tflow.tresp()
        lim.responseheaders(f)

    run(lim, scenario)
    assert f.response.headers["x-aispendtrack-ratelimit-limit-requests-hour"] == "2"
    assert f.response.headers["x-aispendtrack-ratelimit-remaining-requests-hour"] == "1"


def test_unidentified_and_unlimited_flows_are_not_counted(proxy_rt, db_path, config):
    lim = Limiter(proxy_rt(config, writer=False))
    plain, unlimited = tflow.tflow(), limited_flow(hourly=None)

    async def scenario(tctx):
        await tctx.cycle(lim, plain)
        await tctx.cycle(lim, unlimited)

    run(lim, scenario)
    assert plain.response is None and unlimited.response is None
    assert state_of(unlimited).limit_headers is None
    database = dbmod.connect(db_path)
    assert database.execute("SELECT COUNT(*) FROM rate_events").fetchone()[0] == 0
    database.conn.close()


def test_clock_offset_file_option_moves_the_window(proxy_rt, db_path, config, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("0")
    lim = Limiter(proxy_rt(config, writer=False))
    flows = [limited_flow(hourly=1) for _ in range(3)]

    async def scenario(tctx):
        await tctx.cycle(lim, flows[0])
        await tctx.cycle(lim, flows[1])  # over the limit
        clock.write_text("3601")  # an hour later, for the limiter
        await tctx.cycle(lim, flows[2])

    run(lim, scenario, aispendtrack_clock_offset_file=str(clock))
    assert [f.response and f.response.status_code for f in flows] == [None, 429, None]


def test_a_held_write_lock_sends_the_check_to_the_thread_without_blocking_the_loop(proxy_rt, db_path, config):
    lim = Limiter(proxy_rt(config, writer=False))
    other = dbmod.connect(db_path)
    f = limited_flow()
    try:
        other.execute("BEGIN IMMEDIATE")  # another process mid-transaction

        async def scenario(tctx):
            task = asyncio.create_task(tctx.cycle(lim, f))
            for _ in range(20):  # the loop keeps turning while the check waits for the lock
                await asyncio.sleep(0.01)
            assert not task.done()
            other.execute("COMMIT")
            await asyncio.wait_for(task, 10)

        run(lim, scenario)
        assert f.response is None and state_of(f).limit_headers
    finally:
        if other.conn.in_transaction:
            other.execute("ROLLBACK")
        other.conn.close()


@pytest.mark.parametrize("failure", ["database", "stopped"])
def test_a_failed_check_is_refused_with_503_never_forwarded(proxy_rt, db_path, config, monkeypatch, caplog, failure):
    """Fail closed: when check-and-count raises (or the limiter is not running) the flow is
    answered 503 with `retry-after: 1` and recorded as rejected, not waved through; the
    reason is logged."""
    caplog.set_level(logging.WARNING)
    lim = Limiter(proxy_rt(config, writer=False))
    f = limited_flow()

    async def scenario(tctx):
        await tctx.cycle(lim, f)

    if failure == "database":
        def broken(*a, **kw):
            e = sqlite3.OperationalError("disk I/O error")
            e.sqlite_errorcode = sqlite3.SQLITE_IOERR  # as SQLite reports it
            raise e

        monkeypatch.setattr(limits_store, "decide", broken)
    run(lim, scenario, start=failure == "database")
    assert f.response is not None and f.response.status_code == 503
    assert f.response.headers["retry-after"] == "1"
    state = state_of(f)
    assert state.outcome == Outcome.REJECTED and state.limit_headers is None
    reason = "disk I/O error" if failure == "database" else "the limiter is stopped"
    assert state.error == f"AiSpendTrack could not check limits: {reason}"
    assert f.marked == MARK_UNAVAILABLE
    refused = [("aispendtrack.proxy.limits", logging.WARNING, f"aispendtrack: limit check failed: {reason}")]
    if failure == "database":  # the store failing also stops the proxy's other calls, until it answers again
        health = "aispendtrack.store.health", logging.WARNING
        refused = [(*health, "AiSpendTrack: cannot keep the ledger (disk I/O error): provider calls are answered"
                             " 503 until it can; check the database file and the disk, the proxy resumes by itself"),
                   *refused,
                   (*health, f"AiSpendTrack: ledger {db_path} is writable again: provider calls are forwarded")]
    assert caplog.record_tuples == refused


@pytest.mark.parametrize("content, offset", [("3600.5", 3600.5), ("-60\n", -60.0), ("", 0.0), ("soon", 0.0),
                                             (None, 0.0)])
def test_test_clock_reads_its_offset_at_each_check(tmp_path, monkeypatch, content, offset):
    clock_file = tmp_path / "clock"
    if content is not None:
        clock_file.write_text(content, encoding="utf-8")
    monkeypatch.setattr(time, "time", lambda: 1_000_000.0)
    clock = offset_clock(str(clock_file))
    assert clock() == 1_000_000.0 + offset
    clock_file.write_text("7", encoding="utf-8")
    assert clock() == 1_000_007.0


def test_without_the_clock_option_the_clock_is_plain_time(proxy_rt, db_path, config, tmp_path):
    lim = Limiter(proxy_rt(config, writer=False))
    assert lim.clock is time.time
    with taddons.context(lim) as tctx:
        tctx.configure(lim, aispendtrack_clock_offset_file=str(tmp_path / "clock"))
        assert lim.clock is not time.time
        tctx.configure(lim, aispendtrack_clock_offset_file="")
        assert lim.clock is time.time


@pytest.mark.parametrize("case", ["answered", "errored", "not live", "no key", "unlimited", "not ours"])
def test_flows_it_must_not_check_are_left_alone(proxy_rt, db_path, config, case):
    """A stopped limiter answers 503 to anything it checks, so a flow left without a 503
    proves it was not checked."""
    lim = Limiter(proxy_rt(config, writer=False))
    f = limited_flow(hourly=None) if case == "unlimited" else limited_flow()
    if case == "no key":
        state_of(f).key_id = None
    elif case != "unlimited":
        spoil(f, case)
    before = f.response

    async def scenario(tctx):
        await lim.requestheaders(f)

    run(lim, scenario, start=False)
    assert f.response is before
    assert f.marked == ""


def test_a_stopped_limiter_refuses_at_once(proxy_rt, db_path, config):
    lim = Limiter(proxy_rt(config, writer=False))
    f = limited_flow()

    async def scenario(tctx):
        lim.rt.writer.close()  # started by `run`, stopped (the addon's shutdown) before the flow comes
        await asyncio.wait_for(tctx.cycle(lim, f), 10)

    run(lim, scenario)
    assert f.response.status_code == 503
    assert state_of(f).error == "AiSpendTrack could not check limits: the store writer is closed"
    assert json.loads(f.response.content)["error"]["code"] == "limits_unavailable"


@pytest.mark.period
@pytest.mark.parametrize("limit, outcome", [("hourly", Outcome.RATE_LIMITED), ("monthly", Outcome.QUOTA_EXCEEDED)])
def test_429_names_the_limit_and_carries_its_headers(proxy_rt, db_path, config, limit, outcome):
    lim = Limiter(proxy_rt(config, writer=False))
    flows = [limited_flow(hourly=1 if limit == "hourly" else None) for _ in range(2)]
    for f in flows:
        state_of(f).monthly_calls = 1 if limit == "monthly" else None

    async def scenario(tctx):
        for f in flows:
            await tctx.cycle(lim, f)

    now = time.time()
    run(lim, scenario, clock=lambda: now)  # both in one month, even when the real one ends between them
    ok, refused = flows
    assert ok.response is None
    r = refused.response
    state = state_of(refused)
    assert r.status_code == 429 and state.outcome == outcome
    assert refused.marked == MARK_LIMITED and refused.comment == state.error
    assert json.loads(r.content)["error"]["code"] == outcome
    assert f"AiSpendTrack {limit} " in state.error and state.error in r.text
    assert int(r.headers["retry-after"]) >= 1 and r.headers["x-should-retry"] == "false"  # a long wait
    period = "hour" if limit == "hourly" else "month"
    assert r.headers[f"x-aispendtrack-ratelimit-remaining-requests-{period}"] == "0"


def test_free_tier_monthly_429_tells_how_to_lift_the_limit(proxy_rt, db_path, config):
    """The refusal's text is written for the account's tier (`FlowState.tier`)."""
    now = 1_795_003_200.25  # 2026-11-18T12:00:00.25Z, 12.5 days before December
    lim = Limiter(proxy_rt(config, writer=False))
    flows = [limited_flow(hourly=None) for _ in range(2)]
    for f in flows:
        state_of(f).monthly_calls, state_of(f).tier = 1, "free"

    async def scenario(tctx):
        lim.clock = lambda: now
        for f in flows:
            await tctx.cycle(lim, f)

    run(lim, scenario)
    assert flows[0].response is None
    assert state_of(flows[1]).error == (
        "AiSpendTrack monthly limit of 1 calls per calendar month (UTC) for account acme reached for 2026-11;"
        " next request admitted in 12 d 12 h (at 2026-12-01T00:00:00Z): the month resets at"
        " 2026-12-01T00:00:00Z; wait until then, or upgrade the account's tier to lift this limit")


def test_a_narrowed_key_is_counted_in_request_after_its_models_were_checked(proxy_rt, db_path, config):
    """A key with a model list waits for `request`, where Access has already refused what it
    refuses: a call answered before then (403) uses no count."""
    lim = Limiter(proxy_rt(config, writer=False))
    refused, admitted = limited_flow(hourly=1), limited_flow(hourly=1)
    for f in (refused, admitted):
        state_of(f).models = ["gpt-4o-mini"]

    def events() -> int:
        database = dbmod.connect(db_path)
        try:
            return database.execute("SELECT COUNT(*) FROM rate_events").fetchone()[0]
        finally:
            database.conn.close()

    async def scenario(tctx):
        await lim.requestheaders(refused)
        refused.response = tflow.tresp(status_code=403)  # as Access answers it
        await lim.request(refused)
        await lim.requestheaders(admitted)
        assert events() == 0 and admitted.response is None
        await lim.request(admitted)

    run(lim, scenario)
    assert admitted.response is None and state_of(admitted).limit_headers is not None
    assert events() == 1
