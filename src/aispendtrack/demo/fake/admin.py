"""The fake provider's admin side: OpenAI's and Anthropic's usage and cost APIs, answered
from what it billed (`billing.Billing`), and its `POST /fake/usage` control endpoint."""

from __future__ import annotations

from aispendtrack.demo.fake import admin_anthropic, admin_openai
from aispendtrack.demo.fake.billing import Billing
from aispendtrack.demo.fake.wire_core import Reply


def answer(billing: Billing, method: str, target: str, headers: dict[str, str], body: dict) -> Reply | None:
    """The admin APIs' and the control endpoint's reply, or None for any other request."""
    path = target.split("?", 1)[0].rstrip("/")
    if method == "POST" and path == "/fake/usage":
        return billing.inject(body)
    if method != "GET":
        return None
    if path in admin_openai.PATHS:
        return admin_openai.answer(billing, path, target, headers)
    if path in admin_anthropic.PATHS:
        return admin_anthropic.answer(billing, path, target, headers)
    return None
