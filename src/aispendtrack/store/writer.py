"""The proxy's one writer: one thread, one connection, one transaction per wake-up.

Everything the proxy writes goes through it: admissions (`admit`: the hourly window, the
monthly quota and budget holds, decided and counted), ledger rows (`write`/`submit`), the
keys' `last_used` and this proxy's calls in flight (`presence`). The thread drains what
was queued meanwhile and hands it to the store as one `Batch`; SQLite commits it in one
transaction (one writer lock per wake-up instead of four writer connections competing for
it), PostgreSQL decides each admission in its own short transaction under its key's and
account's locks and commits the rows in one more. Waiters are resolved together, one
wake-up of the event loop per batch.

Promises kept from the separate limiter and ledger writer this replaces:
- durable: `await write(row)` returns after the transaction holding the row committed (the
  metering addon awaits it before the response's end reaches the client);
- exact across processes: admissions are decided under the store's write locks;
- failing closed: an admission that cannot be decided raises at once (the proxy answers
  503), never after its batch's retries and never decided late; rows whose commit failed
  are retried with backoff, then kept in memory (up to `MAX_BACKLOG`) and written, oldest
  first, when the store is back, while `health` tells the proxy to answer 503. With
  nothing to write the writer asks the store (`ping`) whether it is back.

Between wake-ups, once a minute, it releases budget holds whose calls never settled
(`expire_holds`, its own short transaction, after the wake-up's waiters were answered).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from aispendtrack.limits.window import Decision
from aispendtrack.store import db as dbmod
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.health import Health
from aispendtrack.store.ledger_rows import describe
from aispendtrack.store.ledger_schema import to_db_row
from aispendtrack.store.batch import (  # noqa: F401  (the writer's callers take them from here too)
    Batch, BatchResult, LedgerClosedError, LedgerUnavailable, Presence, WriterStats)
from aispendtrack.store.records import StoreError, StoreGone

logger = logging.getLogger("aispendtrack.store.ledger")

MAX_BATCH = 2000  # rows per transaction; keeps one commit's latency bounded
MAX_BACKLOG = 100_000  # rows kept in memory while the store cannot be written
RETRY_SECONDS = 1.0  # how often the backlog is retried while the store cannot be written
PRESENCE_SECONDS = 1.0  # calls in flight published this often
TOUCH_SECONDS = 0.25  # keys' last use written this often
EXPIRE_SECONDS = 60.0  # stale budget holds released this often
_STOP = object()


def _row_job(row: dict | list[dict]) -> tuple:
    return ("rows", row) if isinstance(row, list) else ("row", row)


class StoreWriter:
    """See the module docstring. `store` is the process's `SqlStore`."""

    def __init__(self, store, *, retries: int = 5, retry_delay: float = 0.1, health: Health | None = None,
                 presence: Presence | None = None, used: Callable[[], set[str]] | None = None):
        self.store = store
        self.retries = retries
        self.retry_delay = retry_delay
        self.health = health if health is not None else Health(store.target)
        self.presence = presence
        self.used = used  # takes the key ids used since it was last called (the key cache's)
        self.backlog: list[dict] = []  # db rows whose commit failed, oldest first (writer thread only)
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()  # orders submit() against close()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._due = {"presence": 0.0, "touch": 0.0, "expire": 0.0}
        self._offset = 0.0  # the admissions' clock minus this one (see `_expire`)

    # -- any thread ------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; returns once it can reach the store. Idempotent."""
        with self._lock:
            if self._closed:
                raise LedgerClosedError("the store writer is closed")
            if self._thread is None:
                self._spawn()

    def _spawn(self) -> None:
        ready: concurrent.futures.Future = concurrent.futures.Future()
        thread = threading.Thread(target=self._run, args=(ready,), name="aispendtrack-writer", daemon=True)
        thread.start()
        try:
            ready.result()
        except BaseException:
            thread.join()
            raise
        self._thread = thread
        # Daemon thread + atexit: the interpreter never hangs on exit, and what is still
        # queued at exit is written (the addon's `done()` normally did it).
        ref = weakref.ref(self)
        atexit.register(lambda: (w := ref()) is not None and w.close())

    async def admit(self, adm: Admission) -> Decision:
        """Decide and count `adm`; raises when it cannot be decided now (fail closed)."""
        return await self._awaited(("admit", adm))

    def admit_sync(self, adm: Admission, timeout: float = 10) -> Decision:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        fut.set_running_or_notify_cancel()
        self._put(("admit", adm), fut)
        return fut.result(timeout)

    def submit(self, row: dict | list[dict]) -> concurrent.futures.Future[int]:
        """Queue a ledger row (or a batch download's rows, committed together in one
        transaction, settling one budget hold); the future resolves with its (last) id once
        committed, or with the error. Non-blocking; a queued row is written even if its
        waiter went away."""
        fut: concurrent.futures.Future[int] = concurrent.futures.Future()
        fut.set_running_or_notify_cancel()
        self._put(_row_job(row), fut)
        return fut

    async def write(self, row: dict | list[dict]) -> int:
        """Await from the event loop: the row's (a list's last row's) id once it is committed."""
        return await self._awaited(_row_job(row))

    def _awaited(self, job: tuple) -> asyncio.Future:
        """`job` queued with a future of the running loop (resolved from the writer thread)."""
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._put(job, fut)
        return fut

    def write_sync(self, row: dict, timeout: float = 10) -> int:
        """Blocking write (never from the event loop thread)."""
        return self.submit(row).result(timeout)

    def _put(self, job: tuple, fut) -> None:
        with self._lock:
            if not self._closed:
                self._queue.put((job, fut))
                return
        if job[0] == "row":
            logger.warning("ledger writer closed: row not written: %r", describe(job[1]))
        fut.set_exception(LedgerClosedError("the store writer is closed"))

    def close(self, timeout: float = 10) -> None:
        """Write everything submitted so far, then stop the thread. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
                if self._thread is None and self._queue.qsize() > 1:
                    try:  # never started but work was queued: start just to write it
                        self._spawn()
                    except Exception as e:
                        self._fail_queued(e)
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("store writer did not finish within %.1fs", timeout)

    # -- the writer thread -------------------------------------------------------------

    def _run(self, ready: concurrent.futures.Future) -> None:
        try:
            self.store.ping()
        except BaseException as e:
            ready.set_exception(e)
            return
        ready.set_result(None)
        stop = False
        while not stop:
            jobs: list = []
            try:
                jobs, stop = self._next_jobs()
                if not jobs:
                    self.store.idle()
                self._work(jobs, final=stop)
            except BaseException as e:  # the thread must survive anything
                logger.warning("store writer: unexpected %s: %s", type(e).__name__, e)
                dbmod.settle((fut, None, e) for _, fut in jobs)
            self._expire()
        if self.backlog:
            logger.warning("ledger: %d row(s) could not be written before shutdown: %s", len(self.backlog),
                           self.health.problem)
        self._publish_gone()

    def _next_jobs(self) -> tuple[list, bool]:
        wait = RETRY_SECONDS if self.backlog else min(PRESENCE_SECONDS, TOUCH_SECONDS if self.used else 1.0)
        try:
            item = self._queue.get(timeout=wait)
        except queue.Empty:
            return [], False
        if item is _STOP:
            return [], True
        jobs = [item]
        while len(jobs) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return jobs, True
            jobs.append(item)
        return jobs, False

    def _work(self, jobs: list, *, final: bool = False) -> None:
        outcomes: list = []  # (waiter, result, error), settled together at the end
        try:
            batch = Batch()
            waiters = []
            for (kind, payload), fut in jobs:
                if kind == "admit":
                    batch.admissions.append(payload)
                    waiters.append(fut)
                    self._offset = payload.now - time.time()
                else:
                    rows = payload if kind == "rows" else [payload]
                    for i, row in enumerate(rows):
                        waiter = fut if i == len(rows) - 1 else None
                        try:
                            batch.rows.append((to_db_row(row), waiter))
                        except Exception as e:
                            self._fail_row(row, waiter, e, outcomes)
            try:
                self._timers(batch, final)
            except Exception as e:  # last use and presence are informational: never worth a call
                logger.warning("store writer: unexpected %s: %s", type(e).__name__, e)
            if batch.admissions or batch.rows or self.backlog or batch.touched or batch.presence:
                self._write(batch, waiters, outcomes)
            elif self.health.problem:
                self._probe()
        finally:
            dbmod.settle(outcomes)

    def _timers(self, batch: Batch, final: bool) -> None:
        now = time.time()
        if self.used is not None and (final or now >= self._due["touch"]):
            self._due["touch"] = now + TOUCH_SECONDS
            batch.touched = sorted(self.used())
            batch.touched_at = dbmod.iso(now)
        if self.presence is not None and now >= self._due["presence"]:
            p = self.presence
            batch.presence = (p.id, p.pid, p.host, p.started, now, p.count)
            self._due["presence"] = now + PRESENCE_SECONDS

    def _expire(self) -> None:
        """Release stale budget holds now and then, after the wake-up's waiters were told (no
        admission waits for it), and not while the store is failing (the rows' and
        admissions' own errors already say so). A hold is stamped with its admission's clock
        (`Admission.now`, which a test may move), so it is released by that clock: this
        one's offset at the last admission."""
        now = time.time()
        if now < self._due["expire"] or self.health.problem:
            return
        self._due["expire"] = now + EXPIRE_SECONDS
        try:
            self.store.expire_holds(now + self._offset)
        except Exception as e:  # the next turn tries again; a storage problem shows in the writes
            level = logging.DEBUG if dbmod.storage_problem(e) else logging.WARNING
            logger.log(level, "store writer: releasing stale budget holds failed: %s", e)

    def _write(self, batch: Batch, waiters: list, outcomes: list) -> None:
        batch.rows = [(row, None) for row in self.backlog] + batch.rows
        self.backlog = []
        attempt = 0
        retries = 0 if self.health.problem else self.retries  # no 3 s stalls while it is down
        while True:
            try:
                result = self.store.write(batch)
                error = result.error
            except Exception as e:
                result, error = None, e
            if error is None:
                break
            unexpected = not isinstance(error, (StoreError, dbmod.DatabaseError)) and dbmod.storage_problem(error) is None
            if unexpected:  # no quick retry helps, but the rows are kept, never lost with the batch
                logger.warning("store writer: unexpected %s: %s", type(error).__name__, error)
            elif not batch.rows:
                self.health.report("ledger", str(error))
            if waiters:  # told now, never after the rows' retries: an admission is never decided late
                told = zip(waiters, result.decisions) if result is not None else ((f, error) for f in waiters)
                dbmod.settle(self._decided(told))
                self.stats.admissions += len(batch.admissions) if result is not None else 0
                waiters, batch.admissions = [], []
            if not batch.rows:
                return
            if unexpected or attempt >= retries or isinstance(error, (dbmod.DatabaseLost, StoreGone)):  # lost: for good
                self._keep(batch.rows, error, attempt, outcomes)
                return
            delay = self.retry_delay * (2**attempt)
            attempt += 1
            self.stats.retries += 1
            logger.warning("ledger: commit failed (%s), retry %d/%d in %.2fs", error, attempt, self.retries, delay)
            time.sleep(delay)
        self.health.report("ledger", None)
        self.stats.admissions += len(batch.admissions)
        outcomes += self._decided(zip(waiters, result.decisions))
        committed = [(fut, rid) for (_, fut), rid in zip(batch.rows, result.ids) if rid is not None]
        if committed:
            self.stats.batches += 1
            self.stats.rows_written += len(committed)
            self.stats.max_batch = max(self.stats.max_batch, len(committed))
        for (row, fut), e in result.failed:
            self._fail_row(row, fut, e, outcomes)
        outcomes += [(fut, rid, None) for fut, rid in committed if fut is not None]

    @staticmethod
    def _decided(pairs) -> list:
        return [(fut, None, d) if isinstance(d, BaseException) else (fut, d, None) for fut, d in pairs]

    def _probe(self) -> None:
        """Nothing to write while the store was failing: ask it whether it is back, so the
        proxy resumes by itself (it refuses calls meanwhile, so no write would tell)."""
        try:
            self.store.ping()
        except Exception:
            return
        self.health.report("ledger", None)

    def _keep(self, pending: list, exc: Exception, attempt: int, outcomes: list) -> None:
        """Rows whose commit failed: kept for the next retry, their waiters told."""
        if not self.health.problem or attempt:
            logger.warning("ledger: commit of %d row(s) failed after %d attempt(s): %s", len(pending), attempt + 1, exc)
        self.health.report("ledger", str(exc))
        dropped = max(0, len(pending) - MAX_BACKLOG)
        lost, pending = pending[:dropped], pending[dropped:]
        self.backlog = [row for row, _ in pending]
        if dropped:
            self.stats.rows_failed += dropped
            logger.warning("ledger: %d oldest unwritten row(s) dropped (more than %d kept)", dropped, MAX_BACKLOG)
            error = LedgerUnavailable(f"{exc}; the row was dropped: more than {MAX_BACKLOG} rows wait to be written")
            outcomes += [(fut, None, error) for _, fut in lost if fut is not None]
        error = LedgerUnavailable(f"{exc}; the row is kept and written when the database is back")
        outcomes += [(fut, None, error) for _, fut in pending if fut is not None]

    def _fail_row(self, row: Any, fut, exc: BaseException, outcomes: list) -> None:
        self.stats.rows_failed += 1
        logger.warning("ledger: row rejected (%s): %r", exc, describe(row))
        if fut is not None:
            outcomes.append((fut, None, exc))

    def _fail_queued(self, exc: BaseException) -> None:
        outcomes: list = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                (kind, payload), fut = item
                if kind == "row":
                    self._fail_row(payload, fut, exc, outcomes)
                else:
                    outcomes.append((fut, None, exc))
        dbmod.settle(outcomes)

    def _publish_gone(self) -> None:
        if self.presence is None:
            return
        try:
            self.store.presence_gone(self.presence.id, time.time())
        except Exception as e:
            logger.warning("aispendtrack: could not publish calls in flight: %s", e)
