"""GET JSON from a provider's admin API: polite retries on 429, pagination, and errors a user
can act on. Standard library only (`urllib`). The admin key travels in a header and is
scrubbed from anything the provider answers before it reaches a message."""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class ReconcileError(Exception):
    """A clear, user-facing reason the reconciliation could not run; never holds the admin key."""


@dataclass
class AdminClient:
    name: str  # "OpenAI" | "Anthropic", for messages
    base_url: str
    headers: dict[str, str] = field(repr=False)  # the key is in one of them
    secret: str = field(repr=False)  # the admin key, to scrub from provider answers
    key_source: str = ""  # where the key came from, for the 401/403 message
    max_retries: int = 3  # 429s answered with a wait before giving up
    max_wait: float = 60.0  # a retry-after longer than this is not waited for
    timeout: float = 30.0
    max_pages: int = 1000
    sleep: Callable[[float], None] = time.sleep

    def get(self, path: str, params: list[tuple[str, str]]) -> dict:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        for attempt in range(self.max_retries + 1):
            req = urllib.request.Request(url, headers={**self.headers, "accept": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    body = resp.read()
                break
            except urllib.error.HTTPError as e:
                wait = self._retry_wait(e, attempt)
                if wait is None:
                    raise self._http_error(e, path) from None
                log.info("reconcile: %s admin API rate limited; retrying in %.1f s", self.name, wait)
                self.sleep(wait)
            except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise ReconcileError(f"cannot reach the {self.name} admin API at {self.base_url}: "
                                     f"{self._scrub(str(reason))}") from None
        try:
            data = json.loads(body)
        except ValueError:
            raise ReconcileError(f"the {self.name} admin API answered {path} with something that is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise ReconcileError(f"the {self.name} admin API answered {path} without a data list: not its "
                                 "documented shape (is base_url right?)")
        return data

    def pages(self, path: str, params: list[tuple[str, str]]) -> Iterator[dict]:
        """Every page of a paginated list (`has_more` / `next_page` → `page`)."""
        seen: set[str] = set()
        page: str | None = None
        for _ in range(self.max_pages):
            data = self.get(path, params + ([("page", page)] if page else []))
            yield data
            if not data.get("has_more"):
                return
            page = data.get("next_page")
            if not isinstance(page, str) or not page or page in seen:
                raise ReconcileError(f"the {self.name} admin API cut {path} off: it said more pages follow but "
                                     "gave no usable next_page; nothing was compared (try a shorter period)")
            seen.add(page)
        raise ReconcileError(f"the {self.name} admin API gave more than {self.max_pages} pages for {path}; "
                             "nothing was compared (try a shorter period)")

    def _retry_wait(self, e: urllib.error.HTTPError, attempt: int) -> float | None:
        if e.code != 429 or attempt >= self.max_retries:
            return None
        wait = _retry_after(e.headers)
        if wait is None:
            wait = min(2.0 ** attempt, self.max_wait)
        return wait if wait <= self.max_wait else None

    def _http_error(self, e: urllib.error.HTTPError, path: str) -> ReconcileError:
        detail = _error_message(e)
        detail = f": {self._scrub(detail)}" if detail else ""
        where = f" ({self.key_source})" if self.key_source else ""
        if e.code == 401:
            return ReconcileError(f"the {self.name} admin key{where} was refused (401){detail}; it must be an "
                                  "organization admin key")
        if e.code == 403:
            return ReconcileError(f"the {self.name} admin key{where} may not read {path} (403){detail}")
        if e.code == 429:
            wait = _retry_after(e.headers)
            after = f"; the provider asks to wait {wait:g} s" if wait is not None else ""
            return ReconcileError(f"the {self.name} admin API kept answering 429 (rate limited) after "
                                  f"{self.max_retries} polite retries{after}; try again later")
        return ReconcileError(f"the {self.name} admin API answered {path} with HTTP {e.code}{detail}")

    def _scrub(self, text: str) -> str:
        text = text.replace(self.secret, "[admin key]") if self.secret else text
        return text[:300]


def _retry_after(headers) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        try:
            if value is not None and float(value) >= 0:
                return float(value) * scale
        except ValueError:
            continue
    return None


def _error_message(e: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(e.read() or b"null")
    except (ValueError, OSError):
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    msg = err.get("message") if isinstance(err, dict) else err if isinstance(err, str) else None
    return msg if isinstance(msg, str) else ""
