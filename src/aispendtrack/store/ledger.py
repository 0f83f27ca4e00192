"""Ledger writer: one thread, group commit, a row committed before its waiter resumes.

The durability promise: `await writer.write(row)` returns only after the transaction
holding `row` is committed (WAL, `synchronous=NORMAL`: durable across a process crash,
kill -9 included). The metering addon awaits it in its `response` / `error` hook, which
mitmproxy runs before the end of the response reaches the client, so a call the client
saw finish always has its row.

Writes never run on mitmproxy's event loop. `submit()` only puts the row on a queue; the
writer thread drains the queue, inserts every pending row in one transaction, commits,
then resolves every waiter (group commit: one fsync-free WAL append per batch, not per
row; the event loop is woken once per batch, not once per row). A bad row fails only its
own future. A failed commit (database locked beyond the busy timeout, disk full, file
replaced or removed) is retried with backoff, then fails that batch's futures with the error and reports
the problem to `health` (the proxy then refuses provider calls); the rows are kept in
memory and written, oldest first, as soon as a retry (every RETRY_SECONDS) commits.
Problems are logged at WARNING (an ERROR during mitmdump start-up makes it exit).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import queue
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aispendtrack.store import db as dbmod
from aispendtrack.store.health import DbFile, Handle, Health
from aispendtrack.store.ledger_rows import close_connection, describe, insert_batch, open_connection
from aispendtrack.store.ledger_schema import to_db_row  # noqa: F401  (to_db_row re-exported)

logger = logging.getLogger(__name__)

MAX_BATCH = 2000  # rows per transaction; keeps one commit's latency bounded
MAX_BACKLOG = 100_000  # rows kept in memory while the database cannot be written
RETRY_SECONDS = 1.0  # how often the backlog is retried while the database cannot be written
_STOP = object()

class LedgerClosedError(RuntimeError):
    """A row was submitted after `close()`."""


class LedgerUnavailable(RuntimeError):
    """The row could not be committed now; it is kept and written when the database is back."""


@dataclass
class WriterStats:
    rows_written: int = 0
    rows_failed: int = 0
    batches: int = 0  # committed transactions
    max_batch: int = 0
    retries: int = 0  # commit attempts that failed and were retried


class LedgerWriter:
    """Appends `calls` rows from any thread or the event loop; one writer thread commits.

    `busy_timeout` (seconds) is how long one commit attempt waits for another writer's
    lock; a failed attempt is retried `retries` times, sleeping `retry_delay`, doubling.
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        busy_timeout: float = dbmod.BUSY_TIMEOUT_MS / 1000,
        retries: int = 5,
        retry_delay: float = 0.1,
        health: Health | None = None,
        dbfile: DbFile | None = None,
    ):
        self.db_path = Path(db_path)
        self.busy_timeout = busy_timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self.health = health if health is not None else Health(db_path)
        self.backlog: list[dict] = []  # db rows whose commit failed, oldest first (writer thread only)
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()  # orders submit() against close()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.dbfile = dbfile if dbfile is not None else DbFile(db_path, self.health)
        self._db = Handle(self.dbfile, lambda: open_connection(self.dbfile, self.busy_timeout), close_connection)

    def start(self) -> None:
        """Start the writer thread; returns once its connection is open and the schema exists.

        Raises `aispendtrack.store.db.DatabaseError` (naming the file) if the database cannot be
        opened. Idempotent.
        """
        with self._lock:
            if self._closed:
                raise LedgerClosedError("ledger writer is closed")
            if self._thread is None:
                self._spawn()

    def _spawn(self) -> None:
        ready: concurrent.futures.Future = concurrent.futures.Future()
        thread = threading.Thread(
            target=self._run, args=(ready,), name="aispendtrack-ledger", daemon=True
        )
        thread.start()
        try:
            ready.result()
        except BaseException:
            thread.join()
            raise
        self._thread = thread
        # Daemon thread + atexit: the interpreter never hangs on exit waiting for the thread,
        # and rows still queued at exit are flushed (the addon's `done()` normally did it).
        ref = weakref.ref(self)
        atexit.register(lambda: (w := ref()) is not None and w.close())

    def submit(self, row: dict) -> concurrent.futures.Future[int]:
        """Queue `row`; the future resolves with its id once committed, or with the error.

        Thread-safe and non-blocking. The future cannot be cancelled: a queued row is
        written even if its waiter went away (client disconnect).
        """
        fut: concurrent.futures.Future[int] = concurrent.futures.Future()
        fut.set_running_or_notify_cancel()
        self._put(row, fut)
        return fut

    async def write(self, row: dict) -> int:
        """Await from the event loop: returns the row id once the row is committed.

        The waiter is an asyncio future, resolved with the rest of its batch by one
        callback on the loop (cheaper than a thread future wrapped per row).
        """
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._put(row, fut)
        return await fut

    def _put(self, row: dict, fut) -> None:
        with self._lock:
            if not self._closed:
                self._queue.put((row, fut))
                return
        logger.warning("ledger writer closed: row not written: %r", describe(row))
        fut.set_exception(LedgerClosedError("ledger writer is closed"))

    def write_sync(self, row: dict, timeout: float = 10) -> int:
        """Blocking write (never from the event loop thread)."""
        return self.submit(row).result(timeout)

    def close(self, timeout: float = 10) -> None:
        """Commit everything submitted so far, then stop the thread. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
                if self._thread is None and self._queue.qsize() > 1:
                    # never started but rows were queued: start just to flush them
                    try:
                        self._spawn()
                    except Exception as e:
                        self._fail_queued(e)
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("ledger writer did not finish within %.1fs", timeout)

    # -- writer thread ---------------------------------------------------------------

    def _run(self, ready: concurrent.futures.Future) -> None:
        try:
            self._db.get()
        except BaseException as e:
            ready.set_exception(e)
            return
        ready.set_result(None)
        stop = False
        while not stop:
            batch: list = []
            try:
                batch, stop = self._next_batch()
                if batch or self.backlog:
                    self._write_batch(batch)
            except BaseException as e:  # the thread must survive anything
                logger.warning("ledger writer: unexpected %s: %s", type(e).__name__, e)
                self._rollback()
                dbmod.settle((fut, None, e) for _, fut in batch)
        if self.backlog:
            logger.warning("ledger: %d row(s) could not be written before shutdown: %s", len(self.backlog),
                           self.health.problem)
        self._db.close()

    def _next_batch(self) -> tuple[list, bool]:
        try:
            item = self._queue.get(timeout=RETRY_SECONDS if self.backlog or self._db.value else None)
        except queue.Empty:
            self._db.idle()
            return [], False
        if item is _STOP:
            return [], True
        batch = [item]
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _write_batch(self, batch: list) -> None:
        outcomes: list = []  # (fut, row id, error), settled together at the end
        try:
            self._write_rows(batch, outcomes)
        finally:
            dbmod.settle(outcomes)

    def _write_rows(self, batch: list, outcomes: list) -> None:
        pending = [(row, None) for row in self.backlog]  # (db_row, fut)
        self.backlog = []
        for row, fut in batch:
            try:
                pending.append((to_db_row(row), fut))
            except Exception as e:
                self._fail_row(row, fut, e, outcomes)
        attempt = 0
        retries = 0 if self.health.problem else self.retries  # no 3 s stalls while it is down
        while pending:
            try:
                ids, failed = self._insert(pending)
            except Exception as e:
                self._rollback()
                unexpected = not isinstance(e, (sqlite3.Error, dbmod.DatabaseError))
                if unexpected:  # no quick retry helps, but the rows are kept, never lost with the batch
                    logger.warning("ledger writer: unexpected %s: %s", type(e).__name__, e)
                if unexpected or attempt >= retries or isinstance(e, dbmod.DatabaseLost):  # lost: for good
                    self._keep(pending, e, attempt, outcomes)
                    return
                delay = self.retry_delay * (2**attempt)
                attempt += 1
                self.stats.retries += 1
                logger.warning(
                    "ledger: commit failed (%s), retry %d/%d in %.2fs",
                    e, attempt, self.retries, delay,
                )
                time.sleep(delay)
                continue
            self.health.report("ledger", None)
            committed = [(fut, rid) for (_, fut), rid in zip(pending, ids) if rid is not None]
            if committed:
                self.stats.batches += 1
                self.stats.rows_written += len(committed)
                self.stats.max_batch = max(self.stats.max_batch, len(committed))
            for (row, fut), e in failed:
                self._fail_row(row, fut, e, outcomes)
            outcomes += [(fut, rid, None) for fut, rid in committed if fut is not None]
            return

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

    def _insert(self, pending: list) -> tuple[list, list]:
        return insert_batch(self._db.get(), pending)

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
                self._fail_row(item[0], item[1], exc, outcomes)
        dbmod.settle(outcomes)

    def _rollback(self) -> None:
        conn = self._db.value
        if conn is None:
            return
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            logger.warning("ledger: rollback failed (%s), reopening the database", e)
            self._db.close()
