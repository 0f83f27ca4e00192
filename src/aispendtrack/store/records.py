"""What goes into the store and comes out of it: plain, frozen dataclasses.

Every backend returns these, never a cursor, a row object or a dict of columns, so a
caller cannot tell SQLite from PostgreSQL. Times are ISO 8601 UTC text with a `Z` (as the
ledger stores them) unless a field says epoch; money is nano-dollars (int) in counters and
decimal text in ledger rows.
"""

from __future__ import annotations

from dataclasses import dataclass


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class KeyStoreError(StoreError):
    """An operator error with a message fit for the terminal (unknown account, tier cap, …)."""


class StoreUnavailable(StoreError):
    """The store cannot be read or written now (file gone or replaced, disk full, server
    unreachable or read-only): answer 503, keep what must be kept, try again later."""


class StoreGone(StoreUnavailable):
    """The store's database is gone (SQLite: its file was deleted or moved away); it is
    never recreated empty in its place."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    tier: str
    created: str
    requests_per_hour: int | None = None  # per-account override: None = the tier's, -1 = unlimited
    monthly_calls: int | None = None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One key as lists and pages show it; never anything a key could be rebuilt from."""

    id: str
    account: str
    name: str | None
    created: str
    last_used: str | None
    revoked: str | None
    expires: str | None
    permissions: tuple[str, ...] | None  # None: all its tier allows
    models: tuple[str, ...] | None  # None: any model
    member: str | None
    hint: str | None
    in_grace: bool = False  # an older secret still works (rotation grace)
    account_id: int | None = None
    member_id: int | None = None
    secret_created: str | None = None  # when its current secret was made (created or last rotated)
    tags: dict[str, str] | None = None  # default tags of its calls (a request's tag headers win per name)

    def state(self, now_iso: str) -> str:
        if self.revoked:
            return "revoked"
        if self.expires and self.expires <= now_iso:
            return "expired"
        return "active"

    def rotation_due(self, now_iso: str, due_iso: str) -> bool:
        """Active, with a secret made at or before `due_iso` (now minus `[keys] rotate_after_days`)."""
        return self.state(now_iso) == "active" and (self.secret_created or self.created) <= due_iso


@dataclass(frozen=True, slots=True)
class Credential:
    """One secret of a key with what authentication needs of its key and account."""

    digest: str
    key_id: str
    hint: str
    retired: str | None  # this secret stops being accepted then (rotation grace)
    revoked: str | None
    expires: str | None
    name: str | None
    permissions: tuple[str, ...] | None
    models: tuple[str, ...] | None
    account_id: int
    account: str
    tier: str
    requests_per_hour: int | None  # the account's override columns, as in `Account`
    monthly_calls: int | None
    member_id: int | None = None
    member: str | None = None
    first_owner_id: int | None = None  # the member whose keys work without team access
    tags: dict[str, str] | None = None  # the key's default tags


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    account: str
    name: str
    role: str
    created: str | None = None
    keys: int | None = None  # keys not revoked (lists only)


@dataclass(frozen=True, slots=True)
class Session:
    id: str  # the cookie's value: never stored
    key_digest: str  # digest of the key secret that logged in
    expires: str


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A webhook endpoint; its signing secrets are never part of it."""

    id: str
    account: str
    url: str
    events: tuple[str, ...] | None  # None: every event
    created: str
    disabled: str | None = None
    disabled_reason: str | None = None
    paused: str | None = None  # the account's tier has no webhooks since then
    previous_secret_until: str | None = None  # a rotated-out secret still signs until then

    @property
    def state(self) -> str:
        """How lists and the API describe it: enabled, paused or disabled."""
        if self.disabled:
            return f"disabled: {self.disabled_reason}"
        if self.paused:
            return "paused: the account's tier has no webhooks (resumes on upgrade)"
        return "enabled"


@dataclass(frozen=True, slots=True)
class Message:
    """An outbox message claimed for delivery, with the secrets that sign it."""

    id: str
    endpoint_id: str
    type: str
    payload: str
    attempts: int
    url: str
    secret: str
    previous_secret: str | None = None  # during a rotation's grace


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt, newest first in lists, with its message's type and state."""

    message_id: str
    type: str | None
    ts: str
    status: int | None
    error: str | None
    duration_ms: int | None
    state: str | None
    attempts: int | None


@dataclass(frozen=True, slots=True)
class Usage:
    """Counters of the limiter: a key's sliding hour and an account's calendar month."""

    key_id: str | None
    hourly_count: int | None
    hourly_oldest: float | None  # epoch of the oldest counted request in the window
    account: str | None
    month: str
    monthly_count: int | None
