"""AiSpendTrack key text: generation, digest, display hint; the JSON of a key's narrowing
lists; the rule for a new key's expiry (the CLI's `--expires` and the API's `expires`)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PREFIX = "ask_"
KEY_BODY = 32
ALPHABET = string.ascii_letters + string.digits
KEY_RE = re.compile(r"ask_[A-Za-z0-9]{32}")
MAX_EXPIRY = timedelta(days=100 * 366)


@dataclass(frozen=True)
class NewKey:
    id: str
    key: str  # plaintext: print once, never store
    account: str
    name: str | None
    hint: str


def generate_key() -> str:
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(KEY_BODY))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def hint(key: str) -> str:
    return f"{PREFIX}…{key[-4:]}"


def encode(values: tuple[str, ...] | None) -> str | None:
    return None if values is None else json.dumps(list(values))


def decode(text: str | None) -> tuple[str, ...] | None:
    """A stored `permissions`/`models` column → tuple, None = not narrowed."""
    return None if text is None else tuple(json.loads(text))


def check_expiry(when: datetime, now: datetime) -> datetime:
    """A new key's expiry, UTC when it names no zone: later than `now` (else the key would
    be expired at once) and at most 100 years ahead. ValueError says which rule failed."""
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= now:
        raise ValueError(f"that is in the past (now is {now:%Y-%m-%dT%H:%M:%SZ}): the key would be expired at once")
    if when - now > MAX_EXPIRY:
        raise ValueError("more than 100 years ahead")
    return when
