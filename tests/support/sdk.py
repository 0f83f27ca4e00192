"""The official SDKs' clients pointed at a running proxy, recording every HTTP attempt, and
the option that moves the limiter's clock (`before_month_end` sets it near a month's end)."""

from __future__ import annotations

import calendar
import time

import httpx2
import openai

from aispendtrack.proxy.auth import HEADER


HOUR = 3600


def clock_option(path) -> list[str]:
    return ["--set", f"aispendtrack_clock_offset_file={path}"]


def next_utc_month_start(now: float) -> int:
    tm = time.gmtime(now)
    y, m = (tm.tm_year + 1, 1) if tm.tm_mon == 12 else (tm.tm_year, tm.tm_mon + 1)
    return calendar.timegm((y, m, 1, 0, 0, 0))


def before_month_end(path, before: float = HOUR) -> float:
    """Sets the proxy clock of `clock_option(path)` to `before` seconds ahead of the end of the
    current UTC month; the offset. Monthly windows and budget periods then meet a month's end the
    same way whatever the date, and no real day's or month's end passes under a test."""
    now = time.time()
    offset = next_utc_month_start(now) - before - now
    path.write_text(repr(offset))
    return offset


class Attempts:
    """httpx2 event hooks on an SDK's own client: every HTTP attempt and its response."""

    def __init__(self):
        self.requests: list[float] = []
        self.responses: list[tuple[float, int, httpx2.Headers]] = []

    def on_request(self, request):
        self.requests.append(time.monotonic())

    def on_response(self, response):
        self.responses.append((time.monotonic(), response.status_code, response.headers))

    def hooks(self):
        return {"request": [self.on_request], "response": [self.on_response]}


def oa(proxy, key, attempts: Attempts, **kw):
    """OpenAI client at the SDK's DEFAULT max_retries (2)."""
    return openai.OpenAI(base_url=proxy.url("openai") + "/v1", api_key="sk-test-provider-key",
                         default_headers={HEADER: key},
                         http_client=openai.DefaultHttpxClient(event_hooks=attempts.hooks()), **kw)
