"""The webhook delivery worker run by `aispendtrack serve`: outbox → signed HTTP POSTs.

At least once: a message is marked delivered only after a 2xx answer; anything else is
retried on the Standard Webhooks schedule (`outbox.SCHEDULE`), every attempt recorded. A
410 Gone disables the endpoint. Messages are leased in one transaction before sending, so
two workers (two `serve` processes) never send one message at the same time, and a
worker killed mid-send leaves a lease that simply expires. Signatures are made with the
official `standardwebhooks` package (two during a secret rotation's grace). Each POST goes
through `webhook_http.Sender`: only to addresses the `[webhooks]` rule allows
(`webhook_targets`), to exactly the address it checked.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from standardwebhooks import Webhook

from aispendtrack.serve import webhook_targets
from aispendtrack.serve.webhook_http import TIMEOUT_SECONDS, Sender
from aispendtrack.store.base import SqlStore
from aispendtrack.store.records import Message, StoreGone

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
EXPIRING_SCAN_SECONDS = 60.0
BATCH = 8


def signed_headers(message_id: str, signing_secrets: list[str], payload: str, when: datetime) -> dict[str, str]:
    """Standard Webhooks headers, one `v1,…` signature per secret (space-separated): during a
    secret rotation the old and the new secret both sign, so either verifies."""
    return {
        "content-type": "application/json",
        "user-agent": "AiSpendTrack-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": " ".join(Webhook(s).sign(message_id, when, payload) for s in signing_secrets),
    }


class Deliverer:
    """Sends due outbox messages; `run_once()` is one pass, `start()` a polling thread."""

    def __init__(self, store: SqlStore, *, clock: Callable[[], float] = time.time,
                 send: Callable[[str, dict[str, str], str], tuple[int | None, str | None]] | None = None,
                 policy: webhook_targets.Policy | None = None, rotate_after_days: int = 90):
        self.store = store
        self.rotate_after_days = rotate_after_days  # `[keys] rotate_after_days`: key.rotation_due
        self.clock = clock
        self.send = send or Sender(policy or webhook_targets.Policy())
        self.owner = "worker_" + secrets.token_hex(6)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(BATCH, thread_name_prefix="aispendtrack-webhook")
        self._next_scan = 0.0

    def run_once(self) -> dict[str, int]:
        """Deliver every message due now (one batch after another); outcome counts."""
        counts: dict[str, int] = {}
        now = self.clock()
        if now >= self._next_scan:
            self.store.queue_expiring_keys(now)
            self.store.queue_rotation_due(now, self.rotate_after_days)
            self._next_scan = now + EXPIRING_SCAN_SECONDS
            now = self.clock()  # what was just queued is due: its time went through a datetime (µs)
        while batch := self.store.claim_messages(self.owner, now, BATCH):
            for outcome in self._pool.map(self._attempt, batch):
                counts[outcome] = counts.get(outcome, 0) + 1
            now = self.clock()
        return counts

    def _attempt(self, message: Message) -> str:
        now = self.clock()
        signing = [message.secret, *([message.previous_secret] if message.previous_secret else [])]
        headers = signed_headers(message.id, signing, message.payload, datetime.fromtimestamp(now, UTC))
        started = time.monotonic()
        status, error = self.send(message.url, headers, message.payload)
        outcome = self.store.record_attempt(message, self.owner, self.clock(), status, error,
                                            int((time.monotonic() - started) * 1000))
        if outcome == "disabled":
            log.warning("aispendtrack: webhook endpoint %s answered 410 Gone; disabled", message.endpoint_id)
        return outcome

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aispendtrack-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(TIMEOUT_SECONDS + 5)
        self._pool.shutdown(wait=False)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except StoreGone:
                self.store.idle()  # said once by the store: nothing is delivered until serve restarts
            except Exception as e:  # the store is busy: try again shortly
                log.warning("aispendtrack: webhook delivery pass failed: %s", e)
            self._stop.wait(POLL_SECONDS)
