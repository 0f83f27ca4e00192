"""AiSpendTrack key text: generation, digest, display hint; the JSON of a key's narrowing
lists; the rule for a new key's expiry (the CLI's `--expires`, the API's `expires` and
`expires_in`, the dashboard's new-key form)."""

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


def encode_tags(tags: dict[str, str] | None) -> str | None:
    """A key's default tags as stored: a JSON object, names sorted; None without any."""
    return json.dumps(dict(sorted(tags.items())), ensure_ascii=False, separators=(",", ":")) if tags else None


def decode_tags(text: str | None) -> dict[str, str] | None:
    return json.loads(text) if text else None


def check_expiry(when: datetime, now: datetime) -> datetime:
    """A new key's expiry, UTC when it names no zone: later than `now` (else the key would
    be expired at once) and at most 100 years ahead. ValueError says which rule failed."""
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= now:
        raise ValueError(f"that is in the past (now is {now:%Y-%m-%dT%H:%M:%SZ}): the key would be expired at once")
    if when - now > MAX_EXPIRY:
        raise ValueError("more than 100 years ahead")
    return when


DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: str) -> timedelta | None:
    """`30d`, `12h`, `90m`, `45s` → timedelta (above zero, at most 100 years); None when
    `value` is not shaped like a duration. ValueError when it is, but out of range."""
    value = value.strip()
    if not (value[:-1].isdigit() and value[-1:] in DURATION_UNITS):
        return None
    seconds = int(value[:-1]) * DURATION_UNITS[value[-1]]
    if not 0 < seconds <= MAX_EXPIRY.total_seconds():
        raise ValueError("give a duration above zero and at most 100 years (36600d)")
    return timedelta(seconds=seconds)


def parse_expiry(value: str, now: datetime) -> datetime:
    """An expiry as people write it: a duration from now (`parse_duration`) or an ISO 8601
    date/datetime (UTC when no zone), checked by `check_expiry`. ValueError says why not."""
    duration = parse_duration(value)
    if duration is not None:
        return now + duration
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("use e.g. 30d, 12h, or 2026-12-31T00:00:00Z") from None
    return check_expiry(when, now)
