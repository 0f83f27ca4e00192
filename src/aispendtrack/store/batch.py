"""What the proxy's writer hands the store in one wake-up (`Batch`) and gets back
(`BatchResult`), what it publishes (`Presence`), counts (`WriterStats`) and raises to a
waiter (`LedgerClosedError`, `LedgerUnavailable`): plain data the store's `write` and the
writer share (see writer.py)."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from aispendtrack.limits.window import Decision
from aispendtrack.store.api.traffic import Admission


class LedgerClosedError(RuntimeError):
    """A row or admission was submitted after `close()`."""


class LedgerUnavailable(RuntimeError):
    """The row could not be committed now; it is kept and written when the store is back."""


@dataclass
class Presence:
    """This proxy's calls in flight (counted on the event loop), published by the writer."""

    id: str = field(default_factory=lambda: os.urandom(6).hex())
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    started: float = field(default_factory=time.time)
    count: int = 0


@dataclass
class Batch:
    """What one wake-up of the writer hands the store."""

    admissions: list[Admission] = field(default_factory=list)
    rows: list[tuple[dict, Any]] = field(default_factory=list)  # (db row, waiter or None)
    touched: list[str] = field(default_factory=list)
    touched_at: str | None = None
    presence: tuple | None = None  # (id, pid, host, started, heartbeat, inflight)


@dataclass
class BatchResult:
    decisions: list[Decision | BaseException] = field(default_factory=list)
    ids: list[int | None] = field(default_factory=list)
    failed: list = field(default_factory=list)  # ((row, waiter), error) refused one by one
    # The rows, last use and presence could not be committed, the admissions were decided
    # apart (PostgreSQL): they stand, the rows are retried.
    error: BaseException | None = None


@dataclass
class WriterStats:
    rows_written: int = 0
    rows_failed: int = 0
    batches: int = 0  # committed transactions holding rows
    max_batch: int = 0
    retries: int = 0  # commits that failed and were retried
    admissions: int = 0
