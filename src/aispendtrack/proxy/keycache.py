"""The proxy's view of the key store: digest → `KeyRecord`, in memory.

Authentication runs on mitmproxy's event loop, so it must not wait on the store. Every key
or budget change raises its signal (`Store.changes()`); `fresh()` checks the signals per
request (a memory read on SQLite, a flag set by the LISTEN thread on PostgreSQL) and, after
a change, re-reads the store off the loop before any key is decided, so a key created,
rotated or revoked is in force on the very next request. An unknown key triggers the same
re-read before its 401. A background thread also compares the stored versions a few times
a second, as a fallback should a signal be lost. Times of validity (expiry, rotation grace)
are compared at lookup, so they need no reload. Keys used are handed to the store writer
(`take_used`), which records their last use.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from aispendtrack.auth.records import KeyRecord, Verdict, check, records_of
from aispendtrack.config import Config
from aispendtrack.store.conn import BUDGETS, KEYS, VAULT
from aispendtrack.store.health import Health

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
RELOAD_ON = frozenset({KEYS, BUDGETS, VAULT})  # budgets: who must reserve per call; vault: provider keys


class KeyCache:
    """Holds the current records and refreshes them from a background thread."""

    def __init__(self, store, config: Config, health: Health | None = None):
        self.store = store
        self.config = config
        self.health = health if health is not None else Health(store.target)
        self.records: dict[str, KeyRecord] = {}
        self.by_id: dict[str, KeyRecord] = {}
        self._versions: dict[str, str] | None = None
        self._unread = False  # the last read of the store failed
        self._used: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._changes = None
        self._pending: asyncio.Future | None = None
        self.vault = None  # a `proxy.vaultview.VaultView` to reload with the keys, if any

    def start(self) -> None:
        self._changes = self.store.changes()
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="aispendtrack-keycache", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        if self._changes is not None:
            self._changes.close()

    def take_used(self) -> set[str]:
        """The key ids used since the last call (the store writer records their last use)."""
        used, self._used = self._used, set()
        return used

    async def fresh(self) -> None:
        """Return once the records include every key change announced before this call.

        Without a change, no await at all. After one, every caller waits for the same
        re-read (run off the loop); a change during that re-read starts another."""
        if self._changes is not None and self._changes.changed() & RELOAD_ON:
            self._pending = asyncio.ensure_future(asyncio.to_thread(self.refresh, True))
        pending = self._pending
        if pending is not None:
            if not pending.done():
                await asyncio.shield(pending)
            if pending is self._pending:
                self._pending = None
            if pending.exception() is not None:
                self._changes.forget(KEYS)  # the next request tries again
                raise pending.exception()  # fails the request: closed, never stale

    async def lookup_fresh(self, presented: str) -> Verdict:
        """`lookup`, re-reading the store first for a key it does not know yet."""
        await self.fresh()
        verdict = self.lookup(presented)
        if verdict.record is None:
            await asyncio.to_thread(self.refresh)
            verdict = self.lookup(presented)
        return verdict

    def lookup(self, presented: str, now_iso: str | None = None) -> Verdict:
        verdict = check(self.records, presented, now_iso)
        if verdict.reason is None:
            self._used.add(verdict.record.key_id)
        return verdict

    def refresh(self, force: bool = False) -> None:
        """Reload the records if the store's versions moved (or `force`). After the store could
        not be read, the next read reloads everything: what answers now may be another
        database (a file deleted and created anew counts its versions from the start again)."""
        with self._lock:
            try:
                versions = self.store.versions()
                if force or self._unread or versions != self._versions:
                    self._load(versions)
            except Exception as e:
                self._unread = True
                self.health.report("keystore", str(e))
                raise
            self._unread = False
            self.health.report("keystore", None)

    def _load(self, versions: dict[str, str]) -> None:
        records = records_of(self.store.credentials(), self.config, self.store.budgeted_subjects())
        if self.vault is not None:
            self.vault.load(self.store)
        by_id: dict[str, KeyRecord] = {}
        for r in records.values():
            if r.key_id not in by_id or (by_id[r.key_id].retired or "~") < (r.retired or "~"):
                by_id[r.key_id] = r
        # Swapping whole dicts is atomic for readers on the event loop.
        self.records, self.by_id, self._versions = records, by_id, versions

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.refresh()
            except Exception as e:  # told to health: the proxy answers 503 until it reads again
                log.debug("aispendtrack: key store refresh failed (will retry): %s", e)
