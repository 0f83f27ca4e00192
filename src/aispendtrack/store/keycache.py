"""The proxy's view of the key store: digest → key record, in memory.

Authentication runs on mitmproxy's event loop, so it must not touch SQLite. Every key
change announces itself (`keychange`); `fresh()` checks that signal per request (a memory
read) and, after a change, re-reads the store off the loop before any key is decided, so
a key created, rotated or revoked is in force on the very next request. An unknown key
triggers the same re-read (cheap: only `keys_version` when nothing changed) before its
401. A background thread still polls `keys_version` a few times a second as a fallback.
Times of validity (expiry, rotation grace) are compared at lookup, so they need no reload.
The same thread watches the database file: replaced or removed → the file is lost for the
proxy (see health.py), its connection closed; the proxy answers 503 until restarted.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from aispendtrack.config import Config
from aispendtrack.limits import permissions as perms
from aispendtrack.store import db as dbmod
from aispendtrack.store import budgets, keychange, keys
from aispendtrack.store.db import DatabaseLost
from aispendtrack.store.health import DbFile, Health

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25


@dataclass(frozen=True)
class KeyRecord:
    digest: str
    key_id: str
    hint: str
    retired: str | None  # ISO time this secret stops being accepted (rotation grace)
    revoked: str | None
    expires: str | None
    account_id: int
    account: str
    tier: str
    requests_per_hour: int | None  # None = unlimited
    monthly_calls: int | None
    name: str | None = None
    permissions: tuple[str, ...] = perms.PERMISSIONS  # effective: tier's ∩ the key's own
    models: tuple[str, ...] | None = None  # model globs; None = any model
    budgeted: bool = False  # a dollar budget applies (key, account or tier): reserve per call
    held: str | None = None  # why the key does not work on its account's tier (a member's, without team)


@dataclass(frozen=True)
class Verdict:
    record: KeyRecord | None
    reason: str | None  # why the key was refused; None when accepted


_RECORDS_SQL = """SELECT s.digest, s.key_id, s.hint, s.retired, k.revoked, k.expires, k.name,
                  k.permissions, k.models, a.id AS account_id, a.name AS account, a.tier,
                  a.requests_per_hour, a.monthly_calls, k.member_id, m.name AS member,
                  (SELECT MIN(o.id) FROM members o WHERE o.account_id = a.id AND o.role = 'owner'
                       AND o.removed IS NULL) AS first_owner
           FROM key_secrets s JOIN keys k ON k.id = s.key_id JOIN accounts a ON a.id = k.account_id
                LEFT JOIN members m ON m.id = k.member_id"""


def _held(row: dict, tier_permissions: tuple[str, ...]) -> str | None:
    """A tier without `team` has one member: keys of anyone but the first owner wait for an upgrade."""
    if "team" in tier_permissions or row["member_id"] in (None, row["first_owner"]):
        return None
    return (f"key {row['key_id']} belongs to member {row['member']!r} of {row['account']}, which is on the "
            f"{row['tier']} tier: without team access only the owner's keys work until it is upgraded")


def _record(row: dict, config: Config, budgeted: set[tuple[str, str]]) -> KeyRecord:
    rph, monthly = keys.account_limits(row, config)
    tier_permissions = config.tier(row["tier"]).permissions
    return KeyRecord(
        digest=row["digest"],
        key_id=row["key_id"],
        hint=row["hint"],
        retired=row["retired"],
        revoked=row["revoked"],
        expires=row["expires"],
        account_id=row["account_id"],
        account=row["account"],
        tier=row["tier"],
        requests_per_hour=rph,
        monthly_calls=monthly,
        name=row["name"],
        permissions=perms.effective(tier_permissions, keys.decode(row["permissions"])),
        models=keys.decode(row["models"]),
        budgeted=(("key", row["key_id"]) in budgeted or ("account", str(row["account"])) in budgeted
                  or config.tier(row["tier"]).budget_usd is not None),
        held=_held(row, tier_permissions),
    )


def load_records(database, config: Config) -> dict[str, KeyRecord]:
    budgeted = budgets.budgeted_subjects(database)
    return {row["digest"]: _record(row, config, budgeted) for row in database.query(_RECORDS_SQL)}


def lookup_one(database, config: Config, presented: str) -> Verdict:
    """`check` straight from SQLite for one presented key (the account plane: always current)."""
    return check(_records_with(database, config, keys.digest(presented)), presented)


def lookup_digest(database, config: Config, digest: str) -> Verdict:
    """The same decision for the secret with this digest (a dashboard session's key)."""
    record = _records_with(database, config, digest).get(digest)
    if record is None:
        return Verdict(None, "unknown key: it was never issued, or was deleted")
    return Verdict(record, refusal(record))


def _records_with(database, config: Config, digest: str) -> dict[str, KeyRecord]:
    rows = list(database.query(_RECORDS_SQL + " WHERE s.digest = ?", [digest]))
    budgeted = budgets.budgeted_subjects(database) if rows else set()
    return {r["digest"]: _record(r, config, budgeted) for r in rows}


def refusal(record: KeyRecord, now_iso: str | None = None) -> str | None:
    """Why `record` may not be used now (revoked, held by its tier, expired, rotated out), or None.

    `now_iso` defaults to the current time, read only for a key that can expire or a
    secret that is being rotated out.
    """
    if record.revoked:
        return f"key {record.key_id} was revoked"
    if record.held:
        return record.held
    if now_iso is None and (record.expires or record.retired):
        now_iso = dbmod.iso(dbmod.utcnow())
    if record.expires and record.expires <= now_iso:
        return f"key {record.key_id} expired at {record.expires}"
    if record.retired and record.retired <= now_iso:
        return f"this secret of key {record.key_id} was rotated out at {record.retired}; use the new key"
    return None


def check(records: dict[str, KeyRecord], presented: str, now_iso: str | None = None) -> Verdict:
    """Decide on a well-formed `ask_` key. Lookup is by SHA-256 digest, so the time it
    takes says nothing about stored keys; the final compare is constant-time anyway."""
    d = keys.digest(presented)
    record = records.get(d)
    if record is None or not hmac.compare_digest(record.digest, d):
        return Verdict(None, "unknown key: no key with this secret was issued on this proxy's database "
                             "(check for a typo, or for a proxy started with another --db)")
    return Verdict(record, refusal(record, now_iso))


class KeyCache:
    """Holds the current records and refreshes them from a background thread."""

    def __init__(self, db_path: str | Path, config: Config, health: Health | None = None,
                 dbfile: DbFile | None = None):
        self.db_path = str(db_path)
        self.config = config
        self.health = health if health is not None else Health(db_path)
        self.dbfile = dbfile if dbfile is not None else DbFile(db_path, self.health)
        self.records: dict[str, KeyRecord] = {}
        self.by_id: dict[str, KeyRecord] = {}
        self._version: str | None = None
        self._used: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._db = None
        self._lock = threading.Lock()
        self._watch = keychange.Watch(self.db_path)
        self._pending: asyncio.Future | None = None

    def start(self) -> None:
        self._db = self.dbfile.connect(check_same_thread=False)
        self._watch.open()
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="aispendtrack-keycache", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        with self._lock:
            self._flush_last_used()
            self._close()
        self._watch.close()

    async def fresh(self) -> None:
        """Return once the records include every key change announced before this call.

        Without a change, no await at all. After one, every caller waits for the same
        re-read (run off the loop); a change during that re-read starts another."""
        if self._watch.changed():
            self._pending = asyncio.ensure_future(asyncio.to_thread(self.refresh))
        pending = self._pending
        if pending is not None:
            if not pending.done():
                await asyncio.shield(pending)
            if pending is self._pending:
                self._pending = None
            if pending.exception() is not None:
                self._watch.forget()  # the next request tries again
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

    def refresh(self) -> None:
        with self._lock:
            self._follow()
            self._refresh()

    def _follow(self) -> None:
        """Stop at once when the file was replaced or removed, whichever path asked: the poll
        thread or `fresh()` after a key change (see health.py). Called with the lock held."""
        try:
            self.dbfile.check()
        except DatabaseLost:
            self._close()
            raise
        self.health.report("keystore", None)

    def _refresh(self) -> None:
        # fetchall, not fetchone: an unfinished statement would pin an old WAL snapshot.
        rows = self._db.execute("SELECT value FROM meta WHERE name = 'keys_version'").fetchall()
        version = rows[0][0] if rows else "0"
        if version != self._version:
            records = load_records(self._db, self.config)
            by_id = {}
            for r in records.values():
                if r.key_id not in by_id or (by_id[r.key_id].retired or "~") < (r.retired or "~"):
                    by_id[r.key_id] = r
            # Swapping whole dicts is atomic for readers on the event loop.
            self.records, self.by_id, self._version = records, by_id, version

    def _flush_last_used(self) -> None:
        used, self._used = self._used, set()
        if used and self._db is not None:
            now = dbmod.iso(dbmod.utcnow())
            try:
                self._db.conn.executemany("UPDATE keys SET last_used = ? WHERE id = ?", [(now, k) for k in used])
            except Exception as e:  # last_used is informational; never fail a proxy for it
                log.warning("aispendtrack: could not record key last use: %s", e)

    def _close(self) -> None:
        database, self._db = self._db, None
        if database is not None:
            database.conn.close()
            self.dbfile.release()

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.refresh()
                with self._lock:
                    self._flush_last_used()
            except DatabaseLost:
                pass  # the DbFile told health and the log: the proxy answers 503 until restarted
            except Exception as e:
                log.warning("aispendtrack: key store refresh failed (will retry): %s", e)
