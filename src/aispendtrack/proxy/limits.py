"""Limits: per-key hourly rate and per-account monthly calls, checked before forwarding.

Decided from the headers in `requestheaders`: a refused request is answered 429 with an
exact `retry-after` and is never forwarded (its body is never parsed). Check-and-count is
one SQLite transaction on a worker thread, so several proxies on one database enforce one
limit together and mitmproxy's event loop never waits on SQLite. The thread drains every
check queued meanwhile (one transaction each) and wakes the loop once for all of them.

Test hook: if the environment variable ``AISPENDTRACK_TEST_CLOCK_FILE`` is set when the
addon starts, the limiter's clock is ``time.time()`` plus the float offset (seconds) read
from that file at each check (missing, empty or unreadable file: offset 0), so end-to-end
tests can move a running proxy an hour ahead without sleeping. Without the variable the
clock is plain ``time.time`` (no file access, no cost). Never set it in production.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time

from mitmproxy import http

from aispendtrack.store import db as dbmod
from aispendtrack.limits import headers as limit_headers
from aispendtrack.store import limits as store
from aispendtrack.proxy.state import Runtime, meta_of

log = logging.getLogger(__name__)

TEST_CLOCK_ENV = "AISPENDTRACK_TEST_CLOCK_FILE"


def clock_from_env():
    """`time.time`, or (test hook, see the module docstring) time.time() + the file's offset."""
    path = os.environ.get(TEST_CLOCK_ENV)
    if not path:
        return time.time

    def test_clock() -> float:
        try:
            with open(path, encoding="utf-8") as f:
                offset = float(f.read().strip() or 0)
        except (OSError, ValueError):
            offset = 0.0
        return time.time() + offset

    log.warning("aispendtrack: limiter clock offset read from %s (%s test hook)", path, TEST_CLOCK_ENV)
    return test_clock


def add_headers(headers: http.Headers, extra: dict[str, str]) -> None:
    """`headers.update(extra)` for our status headers; appends the fields at once (a tenth of
    the cost) unless the upstream already sent some of them, which are then replaced."""
    prefix = limit_headers.PREFIX.encode()
    if any(name.lower().startswith(prefix) for name, _ in headers.fields):
        headers.update(extra)
    else:
        headers.fields += tuple((k.encode(), v.encode()) for k, v in extra.items())


class Limiter:
    """Answers 429 for keys over their limits; tells forwarded calls where they stand."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.clock = clock_from_env()  # injectable for tests (see the module docstring)

    def start(self) -> None:
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, args=(self._queue,), name="aispendtrack-limits",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Answers the checks already queued, then ends the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        meta = meta_of(flow)
        if flow.response or flow.error or not flow.live or not meta or "key_id" not in meta:
            return
        hourly, monthly = meta.get("requests_per_hour"), meta.get("monthly_calls")
        if hourly is None and monthly is None:
            return  # unlimited: no counter to keep (usage views count these from the ledger)
        now = self.clock()
        try:
            if self._thread is None:
                raise RuntimeError("the limiter is stopped")
            fut = asyncio.get_running_loop().create_future()
            # Accounts are counted by name: unique, and what the 429 message should say.
            self._queue.put((fut, (meta["key_id"], meta["account"], hourly, monthly, now)))
            decision = await fut
        except Exception as e:
            # Fail closed: a limit we cannot check is not a limit we may skip.
            log.warning("aispendtrack: limit check failed: %s", e)
            self.rt.reject(flow, 503, f"AiSpendTrack could not check limits: {e}", "limits_unavailable",
                           outcome="rejected", marker=":warning:", headers={"retry-after": "1"})
            return
        if decision.admitted:
            meta["limit_headers"] = limit_headers.status_headers(decision)
            return
        outcome = "quota_exceeded" if decision.limit == "monthly" else "rate_limited"
        self.rt.reject(flow, 429, limit_headers.rejection_message(decision), outcome, outcome=outcome,
                       marker=":stop_sign:", headers=limit_headers.rejection_headers(decision))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        meta = meta_of(flow)
        if meta and flow.response and (extra := meta.get("limit_headers")):
            add_headers(flow.response.headers, extra)

    def _run(self, jobs: queue.SimpleQueue) -> None:
        database = None
        stop = False
        while not stop:
            batch = [jobs.get()]
            while True:  # checks queued meanwhile: answered with one wake-up of the loop
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            outcomes = []
            for job in batch:
                if job is None:
                    stop = True
                    continue
                fut, (key_id, account_id, hourly, monthly, now) = job
                try:
                    if database is None:
                        database = dbmod.connect(self.rt.db_path)
                    decision = store.check_and_count(database, key_id=key_id, account_id=account_id,
                                                     hourly_limit=hourly, monthly_limit=monthly, now=now)
                    outcomes.append((fut, decision, None))
                except Exception as e:
                    outcomes.append((fut, None, e))
            dbmod.settle(outcomes)
        if database is not None:
            database.conn.close()
