"""What the fake provider records of each request, and the failures a test scripts for it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class ReceivedRequest:
    method: str
    path: str  # with query string
    headers: list[tuple[str, str]]  # original case and order
    body: bytes
    ts: float  # time.time() when the request was fully read
    request_id: str  # the x-fake-request-id sent back
    peer: tuple = ()  # client (host, port): same port = same keep-alive connection

    def header(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), default)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Fault:
    """One scripted failure, consumed by the next request (any endpoint).

    - ``status``: answer ``status`` with ``body`` (default: an error in the provider's format)
    - ``reset``: send headers and ``after`` stream frames (non-streamed: half the body), then close
    - ``hang``: send headers and ``after`` frames, then nothing until the client leaves or stop()
    - ``slow``: wait ``delay`` seconds before the headers, then answer normally
    """

    kind: Literal["status", "reset", "hang", "slow"] = "status"
    status: int = 500
    body: bytes | str | dict | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    after: int = 0
    delay: float = 0.0

    @classmethod
    def error(cls, status: int = 500, body: bytes | str | dict | None = None, headers=None) -> Fault:
        return cls("status", status, body, list(headers or []))

    def body_bytes(self, default: bytes | str | dict) -> bytes:
        """A status fault's body as sent: its own, else `default`; a dict as JSON."""
        body = self.body if self.body is not None else default
        return json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body

    @classmethod
    def reset(cls, after: int = 2) -> Fault:
        return cls("reset", after=after)

    @classmethod
    def hang(cls, after: int = 0) -> Fault:
        return cls("hang", after=after)

    @classmethod
    def slow(cls, delay: float) -> Fault:
        return cls("slow", delay=delay)

    @classmethod
    def parse(cls, spec: str) -> Fault:
        kind, _, arg = spec.strip().partition(":")
        if kind.isdigit():
            return cls.error(int(kind))
        if kind == "slow":
            return cls.slow(float(arg or 1))
        return cls(kind, after=int(arg or (2 if kind == "reset" else 0)))  # type: ignore[arg-type]
