"""The limiter step: in place when the lock is free, on its thread when it is not."""

import asyncio
import time

from mitmproxy.test import tflow

from aispendtrack.store import db as dbmod
from aispendtrack.proxy.limits import Limiter
from aispendtrack.proxy.state import META, Runtime


def limited_flow(key_id="key_1", account="acme", hourly=2):
    f = tflow.tflow()
    f.metadata[META] = {"key_id": key_id, "account": account, "requests_per_hour": hourly,
                        "monthly_calls": None, "shape": "openai", "outcome": "forwarded"}
    return f


def test_checks_in_place_and_refuses_over_the_limit(db_path, config):
    lim = Limiter(Runtime(config=config, db_path=db_path))
    lim.start()
    try:
        flows = [limited_flow() for _ in range(3)]
        for f in flows:
            asyncio.run(lim.requestheaders(f))
        assert [f.response for f in flows[:2]] == [None, None]
        assert flows[2].response.status_code == 429
        assert flows[0].metadata[META]["limit_headers"]["x-aispendtrack-ratelimit-remaining-requests-hour"] == "1"
    finally:
        lim.stop()


def test_a_held_write_lock_sends_the_check_to_the_thread_without_blocking_the_loop(db_path, config):
    lim = Limiter(Runtime(config=config, db_path=db_path))
    lim.start()
    other = dbmod.connect(db_path)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process mid-transaction

        async def scenario():
            f = limited_flow()
            task = asyncio.create_task(lim.requestheaders(f))
            t0 = time.monotonic()
            await asyncio.sleep(0.2)  # the loop keeps running while the check waits
            assert time.monotonic() - t0 < 0.5 and not task.done()
            other.execute("COMMIT")
            await asyncio.wait_for(task, 10)
            return f

        f = asyncio.run(scenario())
        assert f.response is None and f.metadata[META]["limit_headers"]
    finally:
        if other.conn.in_transaction:
            other.execute("ROLLBACK")
        other.conn.close()
        lim.stop()
