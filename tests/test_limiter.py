"""The limiter step, loaded alone in mitmproxy's test context: every check runs on the
limiter's thread, the event loop never waits on SQLite, and a check that cannot be made
refuses the request (503)."""

import asyncio
import sqlite3
import time

import pytest

from mitmproxy.test import taddons, tflow

from aispendtrack.proxy.limits import Limiter
from aispendtrack.proxy.state import META, FlowState, Runtime, state_of
from aispendtrack.store import db as dbmod
from aispendtrack.store import limits as limits_store
from aispendtrack.store.ledger_schema import Outcome


def limited_flow(key_id="key_1", account="acme", hourly=2):
    f = tflow.tflow()
    state = FlowState("openai", "chat", "openai", time.time())
    state.key_id, state.account, state.requests_per_hour = key_id, account, hourly
    f.metadata[META] = state
    return f


def run(limiter: Limiter, scenario, **options):
    """`scenario(tctx)` with the limiter loaded, configured and started."""

    async def main():
        with taddons.context(limiter) as tctx:
            tctx.configure(limiter, **options)
            limiter.start()
            try:
                return await scenario(tctx)
            finally:
                limiter.stop()

    return asyncio.run(main())


def test_counts_and_refuses_over_the_limit(db_path, config):
    lim = Limiter(Runtime(config=config, db_path=db_path))
    flows = [limited_flow() for _ in range(3)]

    async def scenario(tctx):
        for f in flows:
            await tctx.cycle(lim, f)

    run(lim, scenario)
    assert [f.response for f in flows[:2]] == [None, None]
    assert flows[2].response.status_code == 429
    assert state_of(flows[2]).outcome == "rate_limited"
    assert state_of(flows[0]).limit_headers["x-aispendtrack-ratelimit-remaining-requests-hour"] == "1"


def test_status_headers_reach_the_forwarded_response(db_path, config):
    lim = Limiter(Runtime(config=config, db_path=db_path))
    f = limited_flow()

    async def scenario(tctx):
        await tctx.cycle(lim, f)  # requestheaders, request: admitted
        f.response = tflow.tresp()
        lim.responseheaders(f)

    run(lim, scenario)
    assert f.response.headers["x-aispendtrack-ratelimit-limit-requests-hour"] == "2"
    assert f.response.headers["x-aispendtrack-ratelimit-remaining-requests-hour"] == "1"


def test_unidentified_and_unlimited_flows_are_not_counted(db_path, config):
    lim = Limiter(Runtime(config=config, db_path=db_path))
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


def test_clock_offset_file_option_moves_the_window(db_path, config, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("0")
    lim = Limiter(Runtime(config=config, db_path=db_path))
    flows = [limited_flow(hourly=1) for _ in range(3)]

    async def scenario(tctx):
        await tctx.cycle(lim, flows[0])
        await tctx.cycle(lim, flows[1])  # over the limit
        clock.write_text("3601")  # an hour later, for the limiter
        await tctx.cycle(lim, flows[2])

    run(lim, scenario, aispendtrack_clock_offset_file=str(clock))
    assert [f.response and f.response.status_code for f in flows] == [None, 429, None]


def test_a_held_write_lock_sends_the_check_to_the_thread_without_blocking_the_loop(db_path, config):
    lim = Limiter(Runtime(config=config, db_path=db_path))
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
def test_a_failed_check_is_refused_with_503_never_forwarded(db_path, config, monkeypatch, failure):
    """Fail closed: when check-and-count raises (or the limiter is not running) the flow is
    answered 503 with `retry-after: 1` and recorded as rejected, not waved through."""
    lim = Limiter(Runtime(config=config, db_path=db_path))
    f = limited_flow()

    async def scenario(tctx):
        await tctx.cycle(lim, f)

    if failure == "database":
        def broken(*a, **kw):
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(limits_store, "check_and_count", broken)
        run(lim, scenario)
    else:
        async def main():
            with taddons.context(lim) as tctx:  # never started
                await scenario(tctx)

        asyncio.run(main())
    assert f.response is not None and f.response.status_code == 503
    assert f.response.headers["retry-after"] == "1"
    state = state_of(f)
    assert state.outcome == Outcome.REJECTED and state.limit_headers is None
    assert state.error.startswith("AiSpendTrack could not check limits")
    assert f.marked == ":warning:"
