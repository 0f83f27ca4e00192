"""Limit counters in the shared SQLite file; one atomic check-and-count per request.

Tables (created by `ensure_schema`):

* ``rate_events(key_id, seq, ts)`` — the hourly sliding log: one row per admitted request,
  ``seq`` = 1, 2, 3… per key, ``ts`` = float epoch. PK (key_id, seq), index (key_id, ts).
  Invariant: ``ts`` never decreases with ``seq`` for a key, so the window count is
  ``last.seq - first_in_window.seq + 1`` — two index seeks, whatever the limit.
* ``monthly_usage(account, month, calls)`` — calls admitted per account per UTC
  calendar month (``month`` = ``"2026-11"``). PK (account, month). Accounts are counted
  by name, as the ledger's ``account`` column names them. ``account`` has no type
  affinity: a value is stored as given (``"007"`` never becomes 7). Databases whose
  column is still called ``account_id`` (it always held names) are renamed in place.

`admit` runs in one write transaction that holds the key's and the account's locks (on
SQLite its single writer; on PostgreSQL advisory locks, key → account): every process on
the store serialises there, so N processes enforce one limit together and no two requests
slip past a limit between check and count. Both counters move together
or not at all: a request denied by either limit consumes neither. Admitted requests are
always counted (even against an unlimited limit) so `usage` is right and a limit set
later applies at once.

Clocks: if a caller's ``now`` is behind the newest event of the key (two processes
racing for the lock), the window is evaluated and the event recorded at that newest
time, keeping the log ordered; no window ever holds more than the limit.

Both limits deny → reported as ``limit="monthly"`` (``should_retry=False``) with
``retry_after`` = the later of the two waits, so a request at ``now + retry_after``
is admitted (absent other traffic). A limit of 0 blocks: ``retry_after=None``,
``should_retry=False``.

Webhook events go to the outbox in the same transaction: ``limit.hourly_reached`` on a
key's first refusal in an hour, ``quota.monthly_threshold`` when an admission reaches 80 %
or 100 % of the monthly quota (once each per month). Calls that cross no threshold pay
nothing for them; a refused call pays one indexed read.

Pruning: rows more than an hour (plus `PRUNE_MARGIN`) old are deleted for the key every
`PRUNE_KEY_EVERY` admissions, and for all keys every `PRUNE_ALL_EVERY`; stale rows are
never read (the window query seeks on ts), the margin keeps a lagging clock exact.
"""

from __future__ import annotations

import math

from aispendtrack.store import budgets, outbox
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.conn import Conn
from aispendtrack.store.db import iso
from aispendtrack.limits.window import (
    Decision,
    Usage,
    expiry,
    month_bounds,
    seconds_until,
    window_cut,
)

PRUNE_MARGIN = 300.0  # seconds kept beyond the window
PRUNE_KEY_EVERY = 32
PRUNE_ALL_EVERY = 4096

def _check_limit(value: int | None, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be an int >= 0 or None (unlimited), got {value!r}")


def locks(adm: Admission) -> tuple[str, str]:
    """The write locks one admission takes, in the one order every gateway takes them."""
    return f"key:{adm.key_id}", f"account:{adm.account}"


def admit(conn: Conn, adm: Admission, *, durable: bool = True) -> Decision:
    """Admit and count the request at `adm.now`, or deny it without counting anything, in
    one write transaction.

    With a `charge`, the call's dollar bound is reserved on its budgets in the same
    transaction (`budgets.reserve`); a budget it would exceed denies it (``limit="budget"``).
    `durable=False` lets the commit return before it is flushed where the engine allows it
    (`Dialect.relaxed_commit`): other gateways see it at once, but a crash of the database
    server may forget it."""
    with conn.tx(*locks(adm)):
        if not durable and conn.dialect.relaxed_commit:
            conn.execute(conn.dialect.relaxed_commit)
        return decide(conn, adm)


def hold(conn: Conn, key_id: str, account: str, charge: budgets.Charge, now: float, *,
         force: bool = False) -> budgets.Reservation:
    """A budget hold outside an admission, counting no call: a Realtime response inside an
    admitted session (`refused_by` set when it does not fit, unless `force`)."""
    with conn.tx(f"key:{key_id}", f"account:{account}"):  # `locks`' order
        return budgets.reserve(conn, key_id=key_id, account=account, charge=charge, now=now, force=force)


def decide(conn: Conn, adm: Admission) -> Decision:
    """`admit` inside the caller's write transaction (which holds `locks(adm)`)."""
    _check_limit(adm.hourly_limit, "hourly_limit")
    _check_limit(adm.monthly_limit, "monthly_limit")
    if adm.digest is not None and (why := _key_refusal(conn, adm)) is not None:
        return Decision(admitted=False, limit="key", retry_after=None, should_retry=False, now=adm.now, retry_at=None,
                        key_id=adm.key_id, account=adm.account, month=month_bounds(adm.now)[0],
                        hourly_limit=adm.hourly_limit, hourly_remaining=None, hourly_reset=None,
                        monthly_limit=adm.monthly_limit, monthly_remaining=None, monthly_reset=None, reason=why)
    return _check_and_count(conn, adm.key_id, adm.account, adm.hourly_limit, adm.monthly_limit, float(adm.now),
                            adm.charge)


def _key_refusal(conn: Conn, adm: Admission) -> str | None:
    """The presented secret as the store has it now: revoked, rotated out or expired since
    the proxy's key cache last read it (a change another gateway made a moment ago)."""
    row = conn.execute("SELECT k.revoked, k.expires, s.retired FROM key_secrets s JOIN keys k ON k.id = s.key_id"
                       " WHERE s.digest = ?", [adm.digest]).fetchone()
    if row is None:
        return f"key {adm.key_id} was deleted"
    revoked, expires, retired = row
    now_iso = iso(adm.now)
    if revoked:
        return f"key {adm.key_id} was revoked"
    if expires and expires <= now_iso:
        return f"key {adm.key_id} expired at {expires}"
    if retired and retired <= now_iso:
        return f"this secret of key {adm.key_id} was rotated out at {retired}; use the new key"
    return None


def _check_and_count(conn, key_id, account, hourly_limit, monthly_limit, now, charge=None) -> Decision:
    month, _, month_end = month_bounds(now)
    row = conn.execute(
        "SELECT calls FROM monthly_usage WHERE account = ? AND month = ?",
        (account, month),
    ).fetchone()
    used = row[0] if row else 0

    last = conn.execute(
        "SELECT seq, ts FROM rate_events WHERE key_id = ? ORDER BY seq DESC LIMIT 1",
        (key_id,),
    ).fetchone()
    last_seq, eff = (last[0], max(now, last[1])) if last else (0, now)
    cut = window_cut(eff)
    count, oldest_ts = 0, None
    if last and last[1] > cut:
        first_seq, oldest_ts = conn.execute(
            "SELECT seq, ts FROM rate_events WHERE key_id = ? AND ts > ?"
            " ORDER BY ts, seq LIMIT 1",
            (key_id, cut),
        ).fetchone()
        count = last_seq - first_seq + 1

    h_ok = hourly_limit is None or count < hourly_limit
    m_ok = monthly_limit is None or used < monthly_limit

    reservation = None
    if h_ok and m_ok and charge is not None:
        reservation = budgets.reserve(conn, key_id=key_id, account=account, charge=charge, now=now)
        if reservation.refused_by is not None:
            reset_at = reservation.refused_by.reset_at
            return Decision(
                admitted=False, limit="budget",
                retry_after=None if reset_at is None else seconds_until(now, reset_at),
                should_retry=False, now=now, retry_at=reset_at, key_id=key_id, account=account,
                month=month, hourly_limit=hourly_limit,
                hourly_remaining=None if hourly_limit is None else hourly_limit - count,
                hourly_reset=None if hourly_limit is None else (expiry(oldest_ts) if count else now),
                monthly_limit=monthly_limit,
                monthly_remaining=None if monthly_limit is None else monthly_limit - used,
                monthly_reset=None if monthly_limit is None else month_end, budget=reservation,
            )
    if h_ok and m_ok:
        seq = last_seq + 1
        conn.execute(
            "INSERT INTO rate_events (key_id, seq, ts) VALUES (?, ?, ?)", (key_id, seq, eff)
        )
        conn.execute(
            "INSERT INTO monthly_usage (account, month, calls) VALUES (?, ?, 1)"
            " ON CONFLICT (account, month) DO UPDATE SET calls = monthly_usage.calls + 1",
            (account, month),
        )
        if seq % PRUNE_KEY_EVERY == 0:
            conn.execute(
                "DELETE FROM rate_events WHERE key_id = ? AND ts <= ?",
                (key_id, cut - PRUNE_MARGIN),
            )
        if seq % PRUNE_ALL_EVERY == 0:
            conn.execute("DELETE FROM rate_events WHERE ts <= ?", (cut - PRUNE_MARGIN,))
        if monthly_limit and used + 1 in _thresholds(monthly_limit):
            _quota_event(conn, account, month, monthly_limit, used + 1, now)
        return Decision(
            admitted=True, limit=None, retry_after=None, should_retry=None, now=now,
            retry_at=None, key_id=key_id, account=account, month=month,
            hourly_limit=hourly_limit,
            hourly_remaining=None if hourly_limit is None else hourly_limit - count - 1,
            hourly_reset=None if hourly_limit is None else expiry(oldest_ts if count else eff),
            monthly_limit=monthly_limit,
            monthly_remaining=None if monthly_limit is None else monthly_limit - used - 1,
            monthly_reset=None if monthly_limit is None else month_end, budget=reservation,
        )

    # Denied: no counter moves (a webhook alert may be queued, once per key and hour).
    h_retry_at = None
    if not h_ok and hourly_limit > 0:
        (blocking_ts,) = conn.execute(
            "SELECT ts FROM rate_events WHERE key_id = ? AND seq = ?",
            (key_id, last_seq - hourly_limit + 1),
        ).fetchone()
        h_retry_at = expiry(blocking_ts)
    if not m_ok:
        which = "monthly"
        blocked = monthly_limit == 0 or (not h_ok and hourly_limit == 0)
        retry_at = None if blocked else max(month_end, h_retry_at or month_end)
    else:
        which, retry_at = "hourly", h_retry_at
    if not h_ok and outbox.once(conn, key_id, "limit.hourly_reached", "", now, every=3600.0):
        outbox.emit(conn, account, "limit.hourly_reached", {
            "account": account, "key_id": key_id, "limit": hourly_limit,
            "retry_after_seconds": None if h_retry_at is None else seconds_until(now, h_retry_at)}, now=now)
    if not m_ok and monthly_limit:
        _quota_event(conn, account, month, monthly_limit, used, now)
    if hourly_limit is None:
        h_reset = None
    elif not h_ok:
        h_reset = h_retry_at
    else:
        h_reset = expiry(oldest_ts) if count else now
    return Decision(
        admitted=False, limit=which,
        retry_after=None if retry_at is None else seconds_until(now, retry_at),
        should_retry=which == "hourly" and retry_at is not None,
        now=now, retry_at=retry_at, key_id=key_id, account=account, month=month,
        hourly_limit=hourly_limit,
        hourly_remaining=None if hourly_limit is None else max(0, hourly_limit - count),
        hourly_reset=h_reset,
        monthly_limit=monthly_limit,
        monthly_remaining=None if monthly_limit is None else max(0, monthly_limit - used),
        monthly_reset=None if monthly_limit is None else month_end,
    )


def _thresholds(limit: int) -> dict[int, int]:
    """Calls used → the percentage of the monthly quota they reach (80 and 100)."""
    return {math.ceil(limit * 0.8): 80, limit: 100}


def _quota_event(conn, account: str, month: str, limit: int, used: int, now: float) -> None:
    """`quota.monthly_threshold` once per account, month and threshold; a refusal implies 100 %."""
    percent = _thresholds(limit).get(used, 100)
    if outbox.once(conn, account, f"quota.monthly_threshold.{percent}", month, now):
        outbox.emit(conn, account, "quota.monthly_threshold", {
            "account": account, "month": month, "threshold_percent": percent, "limit": limit, "used": used},
            now=now)


def usage(
    conn: Conn, *, key_id: str | None = None, account: str | None = None, now: float
) -> Usage:
    """Current hourly count of a key and monthly count of an account (for the CLI)."""
    month = month_bounds(now)[0]
    hourly = monthly = None
    if key_id is not None:
        (hourly,) = conn.execute(
            "SELECT count(*) FROM rate_events WHERE key_id = ? AND ts > ?",
            (key_id, window_cut(now)),
        ).fetchone()
    if account is not None:
        row = conn.execute(
            "SELECT calls FROM monthly_usage WHERE account = ? AND month = ?",
            (account, month),
        ).fetchone()
        monthly = row[0] if row else 0
    return Usage(key_id, hourly, account, month, monthly)


def reset_key(conn: Conn, key_id: str) -> int:
    """Forget a key's hourly log (all its ids' requests); returns rows deleted."""
    with conn.tx(f"key:{key_id}"):
        return conn.execute("DELETE FROM rate_events WHERE key_id = ?", (key_id,)).rowcount


def reset_account(conn: Conn, account: str, month: str | None = None) -> int:
    """Zero an account's monthly counter for `month` ("2026-11"), or every month if None."""
    with conn.tx(f"account:{account}"):
        if month is None:
            cur = conn.execute("DELETE FROM monthly_usage WHERE account = ?", (account,))
        else:
            cur = conn.execute(
                "DELETE FROM monthly_usage WHERE account = ? AND month = ?", (account, month)
            )
        return cur.rowcount
