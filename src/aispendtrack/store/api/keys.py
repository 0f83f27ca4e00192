"""Accounts and AiSpendTrack keys: the key store's side of the seam.

Every change commits with its outbox events and then raises its change signal
(`Changes`), so every proxy on the store sees it before deciding its very next request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from aispendtrack.config import Config
from aispendtrack.store.keytext import NewKey
from aispendtrack.store.records import Account, Credential, KeyInfo

# What a change signal names: the proxy reloads only what changed.
KEYS, BUDGETS, WEBHOOKS, VAULT = "keys", "budgets", "webhooks", "vault"


class Changes(Protocol):
    """A process's view of the store's change signals."""

    def changed(self) -> frozenset[str]:
        """The signals raised since the last call (cheap: called before every decision)."""

    def forget(self, what: str) -> None:
        """Report `what` as changed again next time (a reload after it failed)."""

    def close(self) -> None: ...


class KeyStore(Protocol):
    def create_account(self, name: str, tier: str = "free", owner: str = "owner") -> Account: ...

    def get_account(self, name: str) -> Account:
        """Raises `KeyStoreError` naming the command that creates it."""

    def list_accounts(self) -> list[Account]: ...

    def set_tier(self, name: str, tier: str, config: Config) -> Account:
        """A downgrade that would leave more active keys than the new cap is refused."""

    def set_account_limits(self, name: str, *, requests_per_hour: int | str | None,
                           monthly_calls: int | str | None) -> Account: ...

    def rename_account(self, old: str, new: str) -> Account: ...

    def create_key(self, account: str, config: Config, *, name: str | None = None,
                   expires: datetime | None = None, permissions: tuple[str, ...] | None = None,
                   models: tuple[str, ...] | None = None, member: str | None = None,
                   tags: dict[str, str] | None = None) -> NewKey:
        """A new key (with default `tags` for its calls, checked by the caller: `auth.tags`);
        the tier's key cap holds under concurrent creation."""

    def rotate_key(self, key_id: str, config: Config) -> NewKey: ...

    def revoke_key(self, key_id: str) -> KeyInfo: ...

    def rename_key(self, key_id: str, name: str | None) -> KeyInfo: ...

    def get_key(self, key_id: str) -> KeyInfo: ...

    def list_keys(self, account: str | None = None) -> list[KeyInfo]: ...

    def credentials(self, digest: str | None = None) -> list[Credential]:
        """Every key secret (the proxy's key cache), or the one with `digest` (serve)."""

    def budgeted_subjects(self) -> set[tuple[str, str]]:
        """(scope, subject) of every budget row: who must reserve per call."""

    def changes(self) -> Changes:
        """This process's watch on the change signals."""
