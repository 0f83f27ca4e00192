"""The provider keys a proxy holds opened, per account (and key) and provider, with each
account's vault mode: what `proxy.vault`'s checks read, reloaded with the keys (`keycache`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aispendtrack.store.vault import DEFAULT_MODE
from aispendtrack.vault import service

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Entry:
    secret: str | None  # None: `problem` says why it cannot be used
    problem: str | None
    hint: str


class VaultView:
    """The opened credentials and each account's mode; whole dicts swapped on reload."""

    def __init__(self) -> None:
        self.entries: dict[tuple[int, str, str], Entry] = {}
        self.modes: dict[int, str] = {}
        self._opened: dict[tuple, str] = {}  # (account, provider, key, master key, sealed) → secret
        self._told: set[tuple] = set()  # problems already logged (a reload happens on every key change)

    def load(self, store) -> None:
        # organization admin keys (reconcile) are never for a call: not even opened here
        records = [r for r in store.list_credentials() if not service.is_admin(r.provider)]
        modes = store.vault_modes()
        known = {(r.account_id, r.provider, r.key_id, r.master_key_id, r.sealed): r for r in records}
        opened = {k: v for k, v in self._opened.items() if k in known}
        entries: dict[tuple[int, str, str], Entry] = {}
        todo = [r for k, r in known.items() if k not in opened]
        for r, secret, problem in service.opened(todo) if todo else ():
            if secret is not None:
                opened[(r.account_id, r.provider, r.key_id, r.master_key_id, r.sealed)] = secret
            else:
                if (told := (r.account_id, r.provider, r.key_id, r.sealed, problem)) not in self._told:
                    self._told.add(told)
                    log.warning("aispendtrack: stored %s key of account %s cannot be used: %s", r.provider,
                                r.account, problem)
                entries[(r.account_id, r.key_id or "", r.provider)] = Entry(None, problem, r.hint)
        for k, secret in opened.items():
            r = known[k]
            entries[(r.account_id, r.key_id or "", r.provider)] = Entry(secret, None, r.hint)
        self.entries, self.modes, self._opened = entries, modes, opened

    def find(self, account_id: int, key_id: str, provider: str) -> Entry | None:
        """The key's own credential for `provider`, else its account's."""
        return self.entries.get((account_id, key_id, provider)) or self.entries.get((account_id, "", provider))

    def mode(self, account_id: int) -> str:
        return self.modes.get(account_id, DEFAULT_MODE)
