"""Fail closed: no provider call goes out while its ledger row could not be kept.

The threads that touch the database report problems to `Runtime.health` (disk full,
database read-only, commits failing: see `store/health.py`); while one is set,
provider-bound calls that auth let through are answered 503 in the provider's error
format, with a `retry-after`, for limited and unlimited keys alike. Calls auth refused
(401, 403) keep their answer. The database file replaced or removed is noticed here too,
with one `stat` per call, so no call starts after it; no SQLite on the event loop.
"""

from __future__ import annotations

from mitmproxy import http

from aispendtrack.proxy.state import Runtime, reject, state_of
from aispendtrack.store.ledger_schema import Outcome
from aispendtrack.proxy.webview import MARK_UNAVAILABLE

RETRY_AFTER = "5"


class LedgerGuard:
    def __init__(self, rt: Runtime):
        self.rt = rt

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or state_of(flow) is None:
            return
        problem = self.rt.health.problem or self._file_lost()
        if problem is None:
            return
        # a lost file stays lost until the proxy restarts: an SDK's retries cannot help
        retry = {"x-should-retry": "false"} if self.rt.health.lost else {"retry-after": RETRY_AFTER}
        reject(
            flow, 503,
            f"AiSpendTrack cannot record calls right now, so this one was not sent: {problem}",
            "ledger_unavailable", outcome=Outcome.REJECTED, marker=MARK_UNAVAILABLE, headers=retry,
        )

    def _file_lost(self) -> str | None:
        return self.rt.store.lost() if self.rt.store is not None else None
