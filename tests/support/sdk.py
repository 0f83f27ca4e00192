"""The official SDKs' clients pointed at a running proxy, recording every HTTP attempt, and
the option that moves the limiter's clock."""

from __future__ import annotations

import time

import httpx2
import openai

from aispendtrack.proxy.auth import HEADER


def clock_option(path) -> list[str]:
    return ["--set", f"aispendtrack_clock_offset_file={path}"]


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
