"""Limits: per-key hourly rate and per-account monthly calls, checked before forwarding.

Decided from the headers in `requestheaders`: a refused request is answered 429 with an
exact `retry-after` and is never forwarded (its body is never parsed). Check-and-count is
one SQLite transaction on a worker thread, so several proxies on one database enforce one
limit together and mitmproxy's event loop never waits on SQLite.

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
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mitmproxy import http

from aispendtrack import db as dbmod
from aispendtrack.limits import headers as limit_headers
from aispendtrack.limits import store
from aispendtrack.runtime import Runtime, meta_of

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


class Limiter:
    """Answers 429 for keys over their limits; tells forwarded calls where they stand."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self.clock = clock_from_env()  # injectable for tests (see the module docstring)

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="aispendtrack-limits")

    def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        meta = meta_of(flow)
        if flow.response or flow.error or not flow.live or not meta or "key_id" not in meta:
            return
        # Unlimited keys are counted too, so `keys list` / `accounts list` show real usage.
        hourly, monthly = meta.get("requests_per_hour"), meta.get("monthly_calls")
        now = self.clock()
        try:
            decision = await asyncio.get_running_loop().run_in_executor(
                # Accounts are counted by name: unique, and what the 429 message should say.
                self._executor, self._check, meta["key_id"], meta["account"], hourly, monthly, now
            )
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
            flow.response.headers.update(extra)

    def _check(self, key_id: str, account_id: str, hourly: int | None, monthly: int | None, now: float):
        database = getattr(self._local, "db", None)
        if database is None:
            database = self._local.db = dbmod.connect(self.rt.db_path)
        return store.check_and_count(
            database, key_id=key_id, account_id=account_id, hourly_limit=hourly, monthly_limit=monthly, now=now
        )
