"""What the fake provider bills: every model call it served, kept with its tokens, time and
scope (OpenAI project from the `OpenAI-Project` header; Anthropic workspace from
`x-fake-workspace`, API key id from the key), priced with genai-prices. Its admin APIs
(`admin_openai.py`, `admin_anthropic.py`, dispatched by `admin.py`) answer from these calls.

Calls made straight to the fake, around the gateway, are served and billed like any other:
that is the "direct" traffic a reconciliation must find. Synthetic usage can also be added
(`Billing.add`, or `POST /fake/usage` with a JSON body of `Served` fields).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import urllib.parse
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal

from genai_prices import Usage, calc_price

from aispendtrack.demo.fake.wire_core import Call, Reply, json_reply

DEFAULT_PROJECT = "proj_default"
BILLED_APIS = {"chat", "responses", "completions", "embeddings", "messages"}


@dataclass(frozen=True)
class Served:
    """One billed call. `input` is the total input (cache reads and writes included)."""

    provider: str  # openai | anthropic
    model: str
    ts: float
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    api: str = "chat"  # embeddings are reported apart at OpenAI
    project: str | None = DEFAULT_PROJECT  # OpenAI
    workspace: str | None = None  # Anthropic (None: the default workspace)
    api_key_id: str | None = None  # Anthropic
    batch: bool = False

    @property
    def day(self) -> str:
        return datetime.fromtimestamp(self.ts, UTC).date().isoformat()

    def costs(self) -> dict[str, Decimal]:
        """USD per token kind ("input" uncached, "cache_write", "cache_read", "output"), summing to
        genai-prices' price of the whole call (what the gateway charges for it)."""
        try:
            def price(**kw) -> Decimal:
                return calc_price(Usage(**kw), self.model, provider_id=self.provider,
                                  genai_request_timestamp=datetime.fromtimestamp(self.ts, UTC)).total_price

            total = price(input_tokens=self.input, cache_read_tokens=self.cache_read,
                          cache_write_tokens=self.cache_write, output_tokens=self.output)
            parts = {"cache_read": price(input_tokens=self.cache_read, cache_read_tokens=self.cache_read),
                     "cache_write": price(input_tokens=self.cache_write, cache_write_tokens=self.cache_write),
                     "output": price(output_tokens=self.output)}
        except (LookupError, ValueError):  # a model genai-prices does not know, or impossible counts: billed $0
            return {"input": Decimal(0)}
        return {"input": total - sum(parts.values()), **parts}


def api_key_id(key: str | None) -> str | None:
    return None if not key else "apikey_" + hashlib.sha256(key.encode()).hexdigest()[:20]


class Billing:
    """The served calls and the admin APIs' knobs (see the module docstring)."""

    def __init__(self) -> None:
        self.calls: list[Served] = []
        self.admin_keys: set[str] | None = None  # None: any key with the admin prefix is accepted
        self.cut_off = False  # pages say has_more but give no next_page
        self._lock = threading.Lock()

    def add(self, *served: Served) -> None:
        with self._lock:
            self.calls.extend(served)

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()

    def snapshot(self) -> list[Served]:
        with self._lock:
            return list(self.calls)

    def record(self, call: Call, headers: dict[str, str], reply: Reply, *, keep: bool = True) -> None:
        """Bill a model call the fake answered (a stream later cut is billed too: it was generated);
        `keep` False: nothing is kept (the server's `record` off, for long bench runs)."""
        if not keep or call.api not in BILLED_APIS or reply.status != 200:
            return
        if call.provider not in ("openai", "anthropic"):
            return
        u = call.usage
        if call.provider == "anthropic":
            self.add(Served("anthropic", call.model, time.time(), u.input, u.output, u.cache_read, u.cache_write,
                            call.api, None, headers.get("x-fake-workspace") or None,
                            api_key_id(headers.get("x-api-key"))))
        elif call.api == "embeddings":
            self.add(Served("openai", call.model, time.time(), u.input, api="embeddings",
                            project=headers.get("openai-project") or DEFAULT_PROJECT))
        else:
            self.add(Served("openai", call.model, time.time(), u.input, u.output, u.cache_read, u.cache_write,
                            call.api, headers.get("openai-project") or DEFAULT_PROJECT))

    def inject(self, body: dict) -> Reply:
        """`POST /fake/usage`: synthetic direct usage (a JSON object of `Served` fields)."""
        known = {f.name for f in fields(Served)}
        try:
            unknown = set(body) - known
            if unknown:
                raise TypeError(f"unknown field(s) {', '.join(sorted(unknown))}")
            served = Served(**{"ts": time.time(), **body})
        except TypeError as e:
            return json_reply({"error": {"message": f"/fake/usage: {e}"}}, 400)
        self.add(served)
        return json_reply({"added": 1}, 201)


def check_admin_key(billing: Billing, key: str | None, prefix: str) -> int | None:
    """None when `key` may read the admin APIs, else the status to refuse it with: 401 for no
    key or an unknown one, 403 for a key that is not an admin key."""
    if not key:
        return 401
    if not key.startswith(prefix):
        return 403
    return None if billing.admin_keys is None or key in billing.admin_keys else 401


def query(target: str) -> dict[str, list[str]]:
    """The query string; `name[]` and `name` are one parameter (both spellings are in use)."""
    out: dict[str, list[str]] = {}
    for name, value in urllib.parse.parse_qsl(target.partition("?")[2], keep_blank_values=True):
        out.setdefault(name.removesuffix("[]"), []).append(value)
    return out


def day_buckets(start: datetime, end: datetime, limit: int, page: str | None) -> tuple[list[datetime], str | None]:
    """The daily buckets of [start, end) from `page` on, at most `limit`, and the next page's token."""
    first = datetime.combine(start.date(), dtime(), UTC)
    if page:
        try:
            first = datetime.fromisoformat(base64.urlsafe_b64decode(page.removeprefix("page_")).decode())
        except ValueError:
            raise ValueError(f"invalid page token {page!r}") from None
    days = []
    day = first
    while day < end and len(days) < limit:
        days.append(day)
        day += timedelta(days=1)
    more = day < end
    token = "page_" + base64.urlsafe_b64encode(day.isoformat().encode()).decode() if more else None
    return days, token


def group_sums(calls: list[Served], keys, sums) -> list[tuple[tuple, dict]]:
    """`calls` grouped by `keys(call)` (a tuple), each group's `sums(call)` (a dict) added up."""
    out: dict[tuple, dict] = {}
    for c in calls:
        total = out.setdefault(keys(c), {})
        for name, v in sums(c).items():
            total[name] = total.get(name, 0) + v
    return sorted(out.items(), key=lambda kv: tuple(str(k) for k in kv[0]))
