"""Dollar budgets in the shared SQLite file: definitions, per-period counters, reservations.

Tables (created by `budgets_schema.ensure_schema`):

* ``budgets(scope, subject, limit_nano, period, since)`` — one per account (``subject`` =
  account name, as the ledger names it) or key (``subject`` = key id). A tier's default
  (`[tiers.<tier>] budget_usd`) applies to an account with no row of its own.
* ``budget_spend(scope, subject, period_key, spent_nano, reserved_nano, overshoot_nano)``
  — keyed by the period (`limits.budget.period_bounds`), so a new period starts at zero
  with nothing to run. A missing row is filled from the ledger's priced rows of that
  period when first needed (so a budget added or changed mid-period counts that period's
  spend only, and a tier default counts what was spent before it was configured).
* ``budget_reservations(id, created, amount_nano, key_period, account_period, expired)``
  — what one admitted call holds until its ledger row settles it.

`reserve` runs inside the limiter's check-and-count transaction (``BEGIN IMMEDIATE``: one
writer across every process on the file), `settle` inside the ledger writer's transaction
that inserts the call's row. So at every commit, for each counter: ``spent`` = settled
cost of the period, ``reserved`` = the bounds of calls still in flight, and a call is
admitted only if ``spent + reserved + bound <= limit``. Settled spend exceeds the limit
only when a call cost more than its bound; that excess is added to ``overshoot_nano``.

A reservation never settled (crash between reserve and settle) stops holding money after
`RESERVATION_TTL` seconds: `expire_holds` (run by each proxy's writer now and then) marks it
expired and releases its amount; if its row comes
later after all, its cost is still added to ``spent``, and to ``overshoot_nano`` (nothing
held it any more).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aispendtrack.limits import budget as rules
from aispendtrack.store import budget_events
from aispendtrack.store import db as dbmod
from aispendtrack.store.conn import BUDGETS, KEYSTORE, Conn

RESERVATION_TTL = 3 * 3600.0  # longer than any call we proxy; see the module docstring
EXPIRED_KEPT = 7 * 86_400.0  # expired reservations are forgotten after this

_LEDGER_COLUMN = {"account": "account", "key": "key_id"}


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one budget stands in the period of `now` (for headers, messages, views)."""

    budget: rules.Budget
    period_key: str
    reset_at: float | None  # None for `total`
    spent_nano: int
    reserved_nano: int
    overshoot_nano: int

    @property
    def remaining_nano(self) -> int:
        return rules.remaining_nano(self.budget.limit_nano, self.spent_nano, self.reserved_nano)


@dataclass(frozen=True, slots=True)
class Charge:
    """What the limiter asks to reserve for one call."""

    amount_nano: int
    tier_budget: rules.Budget | None = None  # the account's tier default, if any


@dataclass(frozen=True, slots=True)
class Reservation:
    """The result of `reserve`: admitted with an id, or refused by `refused_by`."""

    id: str | None
    standings: tuple[Standing, ...]  # after this reservation when admitted
    refused_by: Standing | None = None

    @property
    def tightest(self) -> Standing | None:
        return min(self.standings, key=lambda s: s.remaining_nano, default=None)


# -- definitions (CLI, API) -------------------------------------------------------------


def set_budget(conn: Conn, scope: str, subject: str, usd, period: str, *, now: float) -> rules.Budget:
    """Create or replace a budget; the current period's spend is recounted from the ledger,
    under the subject's admission lock (no call is admitted against a half-made budget)."""
    if scope not in _LEDGER_COLUMN:
        raise ValueError(f"budget scope must be account or key, got {scope!r}")
    limit = rules.parse_budget(usd)
    rules.check_period(period)
    with conn.tx(KEYSTORE, f"{scope}:{subject}"):
        conn.signal(BUDGETS)  # running proxies' key caches know who is budgeted
        conn.execute(
            "INSERT INTO budgets (scope, subject, limit_nano, period, since) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (scope, subject) DO UPDATE SET limit_nano = excluded.limit_nano,"
            " period = excluded.period, since = excluded.since",
            (scope, subject, limit, period, now),
        )
        key, start, end = rules.period_bounds(period, now)
        spent = ledger_spend(conn, scope, subject, start, end)
        conn.execute(
            "INSERT INTO budget_spend (scope, subject, period_key, spent_nano) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (scope, subject, period_key) DO UPDATE SET spent_nano = excluded.spent_nano",
            (scope, subject, key, spent),
        )
    return rules.Budget(scope, subject, limit, period, now)


def clear_budget(conn: Conn, scope: str, subject: str) -> bool:
    with conn.tx(KEYSTORE, f"{scope}:{subject}"):
        conn.signal(BUDGETS)
        return conn.execute("DELETE FROM budgets WHERE scope = ? AND subject = ?", (scope, subject)).rowcount > 0


def get_budget(conn: Conn, scope: str, subject: str) -> rules.Budget | None:
    row = conn.execute(
        "SELECT limit_nano, period, since FROM budgets WHERE scope = ? AND subject = ?", (scope, subject)
    ).fetchone()
    return None if row is None else rules.Budget(scope, subject, row[0], row[1], row[2])


def budgeted_subjects(conn: Conn) -> set[tuple[str, str]]:
    """Every (scope, subject) with a budget row (the key cache's hot-path flag)."""
    return {(s, str(x)) for s, x in conn.execute("SELECT scope, subject FROM budgets")}


def standing(conn: Conn, b: rules.Budget, *, now: float) -> Standing:
    """Where `b` stands now, read-only (a missing counter is computed from the ledger)."""
    return _counter(conn, b, now, create=False)


def ledger_spend(conn: Conn, scope: str, subject: str, start: float, end: float | None) -> int:
    """Priced cost of the subject's ledger rows in ``[start, end)``, in nano-dollars.

    Every budget period is whole UTC days, so it is read from the daily sums the ledger's
    transaction keeps (`reads.daily`): a counter made on a period's first call costs a few
    rows per day, inside the admission's locks, whatever the number of calls."""
    col = _LEDGER_COLUMN[scope]
    if start % rules.DAY or (end is not None and end % rules.DAY):
        return _rows_spend(conn, col, subject, start, end)
    sql = f"SELECT cost_usd FROM calls_daily WHERE {col} = ? AND day >= ?"
    args: list = [subject, dbmod.iso(start)[:10]]
    if end is not None:
        sql += " AND day < ?"
        args.append(dbmod.iso(end)[:10])
    total = sum((Decimal(c) for (c,) in conn.execute(sql, args).fetchall()), Decimal(0))
    return rules.to_nano(total)


def _rows_spend(conn: Conn, col: str, subject: str, start: float, end: float | None) -> int:
    sql = f"SELECT cost_usd FROM calls WHERE {col} = ? AND ts >= ? AND cost_usd IS NOT NULL"
    args: list = [subject, dbmod.iso(start)]
    if end is not None:
        sql += " AND ts < ?"
        args.append(dbmod.iso(end))
    total = sum((Decimal(c) for (c,) in conn.execute(sql, args).fetchall()), Decimal(0))
    return rules.to_nano(total)


# -- the data path ---------------------------------------------------------------------


def reserve(conn: Conn, *, key_id: str, account: str, charge: Charge, now: float,
            force: bool = False) -> Reservation:
    """Inside the caller's write transaction (holding the key's and the account's locks):
    hold `charge` on every budget of the call, or refuse (writing nothing) if one of them
    would go over — unless `force`: spend the provider started by itself must be held too. The counters are read locked (`FOR UPDATE` on PostgreSQL), so a settle
    committing meanwhile is seen, never overwritten."""
    found = []
    for b in _budgets_of(conn, key_id, account, charge.tier_budget):
        found.append(_counter(conn, b, now))
    amount = charge.amount_nano
    for s in found:
        if not force and not rules.admits(s.budget.limit_nano, s.spent_nano, s.reserved_nano, amount):
            return Reservation(None, tuple(found), refused_by=s)
    if not found:
        return Reservation(None, ())
    rid = secrets.token_hex(8)
    periods = {s.budget.scope: s.period_key for s in found}
    limits = {s.budget.scope: s.budget.limit_nano for s in found}
    conn.execute(
        "INSERT INTO budget_reservations (id, created, amount_nano, key_id, key_period, account, account_period,"
        " key_limit, account_limit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (rid, now, amount, key_id, periods.get("key"), account, periods.get("account"),
         limits.get("key"), limits.get("account")),
    )
    after = []
    for s in found:
        conn.execute(
            "UPDATE budget_spend SET reserved_nano = reserved_nano + ?"
            " WHERE scope = ? AND subject = ? AND period_key = ?",
            (amount, s.budget.scope, s.budget.subject, s.period_key),
        )
        after.append(Standing(s.budget, s.period_key, s.reset_at, s.spent_nano, s.reserved_nano + amount,
                              s.overshoot_nano))
    return Reservation(rid, tuple(after))


@dataclass(frozen=True, slots=True)
class Settlement:
    """One ledger row's budget hold to replace by its real cost."""

    reservation_id: str
    cost_usd: Any
    charge_all: bool = False


def settle(conn: Conn, reservation_id: str, cost_usd, *, charge_all: bool = False,
           now: float | None = None) -> None:
    """`settle_many` for one hold."""
    settle_many(conn, [Settlement(reservation_id, cost_usd, charge_all)], now=now)


def settle_many(conn: Conn, items: list[Settlement], *, now: float | None = None) -> None:
    """Inside the ledger writer's transaction: replace each hold by its call's real cost.

    `cost_usd` None (no usage seen, or unpriced): settles 0 (an error answer is not billed),
    or the whole reservation with `charge_all` (an aborted or cut-off call may have been
    billed for what it used before its usage arrived). A hold is claimed by deleting it, so
    it is settled once however often its row is written. Counters are updated in one order
    (keys, then accounts, sorted) so two gateways' ledger writers never deadlock. A budget
    threshold the settled spend reaches queues its `budget.threshold` event here."""
    updates: dict[tuple[int, str, str], list] = {}  # (scope rank, subject, period) -> [cost, held, over, limit, account]
    for item in items:
        row = conn.execute(
            "DELETE FROM budget_reservations WHERE id = ? RETURNING amount_nano, key_id, key_period, account,"
            " account_period, expired, key_limit, account_limit",
            (item.reservation_id,),
        ).fetchone()
        if row is None:
            continue  # already settled
        amount, key_id, key_period, account, account_period, expired, key_limit, account_limit = row
        cost = amount if item.cost_usd is None and item.charge_all else rules.to_nano(item.cost_usd)
        held = 0 if expired else amount
        over = cost if expired else max(0, cost - amount)  # an expired hold no longer covered it
        for rank, subject, period_key, limit in ((0, key_id, key_period, key_limit),
                                                 (1, account, account_period, account_limit)):
            if period_key is not None:
                u = updates.setdefault((rank, str(subject), period_key), [0, 0, 0, limit, account])
                u[0] += cost
                u[1] += held
                u[2] += over
    for (rank, subject, period_key), (cost, held, over, limit, account) in sorted(updates.items()):
        scope = ("key", "account")[rank]
        conn.execute(
            "UPDATE budget_spend SET spent_nano = spent_nano + ?, reserved_nano = reserved_nano - ?,"
            " overshoot_nano = overshoot_nano + ? WHERE scope = ? AND subject = ? AND period_key = ?",
            (cost, held, over, scope, subject, period_key),
        )
        if cost:
            budget_events.check(conn, scope, subject, period_key, limit, account=account, now=now)


def _budgets_of(conn: Conn, key_id: str, account: str, tier_budget: rules.Budget | None) -> list[rules.Budget]:
    out = []
    for scope, subject in (("key", key_id), ("account", account)):
        row = conn.execute(
            "SELECT limit_nano, period, since FROM budgets WHERE scope = ? AND subject = ?", (scope, subject)
        ).fetchone()
        if row is not None:
            out.append(rules.Budget(scope, subject, row[0], row[1], row[2]))
        elif scope == "account" and tier_budget is not None:
            out.append(rules.Budget("account", account, tier_budget.limit_nano, tier_budget.period, 0.0))
    return out


def _counter(conn: Conn, b: rules.Budget, now: float, *, create: bool = True) -> Standing:
    """The counter of `b`'s period of `now`, locked for the caller's transaction (with
    `create`); a missing one is counted from the ledger (and stored, with `create`)."""
    key, start, end = rules.period_bounds(b.period, now)
    sql = ("SELECT spent_nano, reserved_nano, overshoot_nano FROM budget_spend"
           " WHERE scope = ? AND subject = ? AND period_key = ?")
    if create:
        sql += conn.dialect.for_update
    row = conn.execute(sql, (b.scope, b.subject, key)).fetchone()
    if row is None:
        spent = ledger_spend(conn, b.scope, b.subject, start, end)
        if not create:
            return Standing(b, key, end, spent, 0, 0)
        conn.execute(
            "INSERT INTO budget_spend (scope, subject, period_key, spent_nano) VALUES (?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (b.scope, b.subject, key, spent),
        )
        row = conn.execute(sql, (b.scope, b.subject, key)).fetchone()
    return Standing(b, key, end, *row)


def expire_holds(conn: Conn, now: float) -> int:
    """Release holds older than `RESERVATION_TTL` (their call crashed between reserve and
    settle), in their own write transaction; returns how many. A hold is claimed by one
    atomic update, so two gateways never release it twice."""
    with conn.tx("holds"):
        stale = conn.execute(
            "UPDATE budget_reservations SET expired = 1 WHERE expired = 0 AND created < ?"
            " RETURNING amount_nano, key_id, key_period, account, account_period",
            (now - RESERVATION_TTL,),
        ).fetchall()
        releases: dict[tuple[int, str, str], int] = {}
        for amount, key_id, key_period, account, account_period in stale:
            for rank, subject, period_key in ((0, key_id, key_period), (1, account, account_period)):
                if period_key is not None:
                    releases[(rank, str(subject), period_key)] = releases.get((rank, str(subject), period_key), 0) + amount
        for (rank, subject, period_key), amount in sorted(releases.items()):
            conn.execute(
                "UPDATE budget_spend SET reserved_nano = reserved_nano - ?"
                " WHERE scope = ? AND subject = ? AND period_key = ?",
                (amount, ("key", "account")[rank], subject, period_key),
            )
        conn.execute("DELETE FROM budget_reservations WHERE expired = 1 AND created < ?", (now - EXPIRED_KEPT,))
    return len(stale)
