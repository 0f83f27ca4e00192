"""Fail closed: no provider call goes out while its ledger row could not be kept.

The threads that touch the database report problems to `Runtime.health` (file deleted,
disk full, database read-only, commits failing: see `store/health.py`); while one is set,
provider-bound calls that auth let through are answered 503 in the provider's error
format, with a `retry-after`, for limited and unlimited keys alike. Calls auth refused
(401, 403) keep their answer. One attribute read per call: no SQLite on the event loop.
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
        problem = self.rt.health.problem
        if problem is None or flow.response or flow.error or not flow.live or state_of(flow) is None:
            return
        reject(
            flow, 503,
            f"AiSpendTrack cannot record calls right now, so this one was not sent: {problem}",
            "ledger_unavailable", outcome=Outcome.REJECTED, marker=MARK_UNAVAILABLE,
            headers={"retry-after": RETRY_AFTER},
        )
