"""Saved reconciliations (issue 26): each run's report, its rows, and who it concerns.

A run is saved whole in one transaction — its summary, every row, the accounts it
concerns and its `reconcile.drift` events — or not at all, so a save that fails leaves the
previous runs as they were. A run that could not be made (provider unreachable, bad admin
key, rate limited) is saved too, as `status = 'error'` with its message: the page says when
the last attempt failed while still showing the last good run. Nothing is ever replaced.

The accounts a run concerns are decided by the caller when it saves (the run's account, or
every account the provider scope maps to) and kept with it, each with its *share*: its own
rows' matched % and unexplained dollars. An account sees only its share (its rows, never
another account's nor the provider usage attributed to no account) on the dashboard and in
`/v1/reconcile`, and is sent `reconcile.drift` when its own unexplained dollars pass the
threshold. The whole run (every row) is the operator's (the store API with no account).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from aispendtrack.reconcile.compare import totals
from aispendtrack.reconcile.model import Report, Row, Side
from aispendtrack.store import outbox
from aispendtrack.store.conn import Conn
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.sqlite.schema import SIDE
from aispendtrack.store.totals import canon

DRIFT = "reconcile.drift"
_RUN = "r.id, r.provider, r.since, r.until, r.account, r.ran_at, r.status, r.tolerance_usd, r.error, r.notes"
_WHOLE = ("r.matched_pct, r.unexplained_usd, "
          "(SELECT count(*) FROM reconcile_rows w WHERE w.run_id = r.id AND w.verdict <> 'matches')")
_ROW = ("seq, attributed, day, model, verdict, note, account, scope, "
        + ", ".join(f"{side}_{c}" for side in ("gw", "pv") for c in SIDE) + ", gw_usd, pv_usd")


def dashboard_path(run_id: int) -> str:
    """Where the dashboard shows one run's rows (the drift event links to it)."""
    return f"/dashboard/reconcile/{run_id}"


@dataclass(frozen=True, slots=True)
class ReconcileRun:
    """A saved run's summary — the whole run's, or one account's share (`share_of`):
    `matched_pct`, `unexplained_usd`, `off_rows` then count that account's rows only, and the
    notes of a run over several accounts (they may name the others) are left out.
    `matched_pct`, `unexplained_usd`, `tolerance_usd` are None for a failed run, `error` is
    None for a good one."""

    id: int
    provider: str
    since: date
    until: date  # inclusive
    account: str | None  # None: every account the provider scope maps to
    accounts: tuple[str, ...]  # the accounts it concerns
    ran_at: str
    status: str  # "ok" | "error"
    matched_pct: float | None
    unexplained_usd: Decimal | None
    tolerance_usd: Decimal | None
    error: str | None
    notes: tuple[str, ...]
    off_rows: int  # rows whose verdict is not "matches" (unattributed included in the whole run)
    share_of: str | None = None

    def as_json(self) -> dict:
        return {"id": self.id, "provider": self.provider, "since": self.since.isoformat(),
                "until": self.until.isoformat(), "account": self.account, "share_of": self.share_of,
                "ran_at": self.ran_at, "status": self.status, "matched_pct": self.matched_pct,
                "unexplained_usd": None if self.unexplained_usd is None else str(self.unexplained_usd),
                "tolerance_usd": None if self.tolerance_usd is None else str(self.tolerance_usd),
                "error": self.error, "notes": list(self.notes), "off_rows": self.off_rows,
                "dashboard": dashboard_path(self.id)}


def _concerned(account: str | None, accounts: Iterable[str]) -> tuple[str, ...]:
    return (account,) if account is not None else tuple(sorted(set(accounts)))


def _pct(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _insert_run(conn: Conn, values: list, shares: dict[str, tuple]) -> int:
    run_id = conn.insert(
        "INSERT INTO reconcile_runs (provider, since, until, account, ran_at, status, matched_pct, unexplained_usd,"
        " tolerance_usd, error, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
    conn.executemany("INSERT INTO reconcile_run_accounts (account, run_id, matched_pct, unexplained_usd, off_rows)"
                     " VALUES (?, ?, ?, ?, ?)", [(a, run_id, *share) for a, share in shares.items()])
    return run_id


def share(report: Report, account: str) -> tuple[float | None, str, int]:
    """`account`'s share of a report: (matched %, unexplained dollars, rows not matching) of
    its own rows, by the report's own rule (`reconcile.compare.totals`)."""
    own = [r for r in report.rows if r.account == account]
    pct, unexplained = totals(own, [])
    return _pct(pct), canon(unexplained), sum(r.verdict != "matches" for r in own)


def _side(side: Side) -> list:
    return [side.input_tokens, side.cached_tokens, side.output_tokens, side.batch_tokens, side.requests]


def save_report(conn: Conn, report: Report, *, accounts: Iterable[str] = (), drift_usd: Decimal | None = None,
                now: float | None = None) -> int:
    """Save `report` with its rows; the new run's id. `accounts`: whom a report over every
    account (`report.account` None) concerns. With `drift_usd`, a `reconcile.drift` event is
    queued, in the same transaction, to each account concerned whose share's unexplained
    dollars are above it: once per run."""
    shares = {a: share(report, a) for a in _concerned(report.account, accounts)}
    rows = [(True, r) for r in report.rows] + [(False, r) for r in report.unattributed]
    with conn.tx():
        run_id = _insert_run(conn, [
            report.provider, report.since.isoformat(), report.until.isoformat(), report.account, report.ran_at, "ok",
            _pct(report.matched_pct), str(report.unexplained_usd), str(report.tolerance_usd), None,
            json.dumps(list(report.notes))], shares)
        conn.executemany(
            f"INSERT INTO reconcile_rows (run_id, {_ROW}) VALUES ({', '.join('?' * (2 + _ROW.count(',')))})",
            [[run_id, seq, int(attributed), r.day.isoformat(), r.model, r.verdict, r.note, r.account, r.scope,
              *_side(r.gateway), *_side(r.provider), str(r.gateway.usd), str(r.provider.usd)]
             for seq, (attributed, r) in enumerate(rows)])
        if drift_usd is not None:
            for account, (pct, unexplained, _) in shares.items():
                if Decimal(unexplained) > drift_usd:
                    outbox.emit(conn, account, DRIFT, {
                        "account": account, "provider": report.provider, "run_id": run_id,
                        "period": {"since": report.since.isoformat(), "until": report.until.isoformat()},
                        "matched_pct": pct, "unexplained_usd": unexplained, "drift_usd": str(drift_usd),
                        "ran_at": report.ran_at, "dashboard": dashboard_path(run_id)}, now=now)
    return run_id


def save_failure(conn: Conn, provider: str, since: date, until: date, error: str, *, account: str | None = None,
                 accounts: Iterable[str] = (), ran_at: str | None = None) -> int:
    """Save a run that could not be made, with its (user-facing) message; its id."""
    with conn.tx():
        return _insert_run(conn, [provider, since.isoformat(), until.isoformat(), account, ran_at or iso(utcnow()),
                                  "error", None, None, None, error, "[]"],
                           {a: (None, None, 0) for a in _concerned(account, accounts)})


def _runs(conn: Conn, where: str, params: list, viewer: str | None) -> list[ReconcileRun]:
    if viewer is None:
        sql = f"SELECT {_RUN}, {_WHOLE} FROM reconcile_runs r"
    else:
        sql = (f"SELECT {_RUN}, s.matched_pct, s.unexplained_usd, s.off_rows FROM reconcile_runs r"
               " JOIN reconcile_run_accounts s ON s.run_id = r.id AND s.account = ?")
        params = [viewer, *params]
    found = conn.execute(f"{sql} WHERE {where} ORDER BY r.provider, r.id", params).fetchall()
    if not found:
        return []
    ids = [r[0] for r in found]
    concerned: dict[int, list[str]] = {i: [] for i in ids}
    for run_id, account in conn.execute(
            f"SELECT run_id, account FROM reconcile_run_accounts WHERE run_id IN ({','.join('?' * len(ids))})"
            " ORDER BY account", ids).fetchall():
        concerned[run_id].append(account)
    return [ReconcileRun(
        id=r[0], provider=r[1], since=date.fromisoformat(r[2]), until=date.fromisoformat(r[3]), account=r[4],
        accounts=tuple(concerned[r[0]]) if viewer is None else (viewer,), ran_at=r[5], status=r[6],
        tolerance_usd=None if r[7] is None else Decimal(r[7]), error=r[8],
        notes=tuple(json.loads(r[9])) if viewer is None or r[4] == viewer else (),
        matched_pct=r[10], unexplained_usd=None if r[11] is None else Decimal(r[11]), off_rows=int(r[12]),
        share_of=viewer) for r in found]


def latest_runs(conn: Conn, account: str | None = None, *, ok_only: bool = False) -> list[ReconcileRun]:
    """The newest saved run per provider and run scope (the run's account, or every account):
    `account`'s shares of those concerning it, or (None) every whole run; only good ones
    with `ok_only`."""
    concerns = "" if account is None else \
        " AND EXISTS (SELECT 1 FROM reconcile_run_accounts a WHERE a.run_id = l.id AND a.account = ?)"
    status = " AND l.status = 'ok'" if ok_only else ""
    with conn.read():
        return _runs(conn, f"r.id IN (SELECT MAX(l.id) FROM reconcile_runs l WHERE 1 = 1{status}{concerns}"
                           " GROUP BY l.provider, l.account)", [] if account is None else [account], account)


def get_run(conn: Conn, run_id: int, account: str | None = None) -> ReconcileRun | None:
    """Run `run_id`: `account`'s share if it concerns `account` (else None), or the whole run."""
    with conn.read():
        found = _runs(conn, "r.id = ?", [run_id], account)
    return found[0] if found else None


def _read_side(values: Sequence, usd: str) -> Side:
    return Side(*(int(v) for v in values), usd=Decimal(usd))


def run_rows(conn: Conn, run_id: int, account: str | None = None) -> tuple[tuple[Row, ...], tuple[Row, ...]]:
    """A run's rows as saved: (rows, unattributed), each in the report's order; with
    `account`, only that account's rows (and no unattributed ones)."""
    n, own = len(SIDE), "" if account is None else " AND account = ? AND attributed = 1"
    rows: tuple[list[Row], list[Row]] = ([], [])
    for r in conn.execute(f"SELECT {_ROW} FROM reconcile_rows WHERE run_id = ?{own} ORDER BY seq",
                          [run_id] if account is None else [run_id, account]).fetchall():
        row = Row(day=date.fromisoformat(r[2]), model=r[3], verdict=r[4], note=r[5], account=r[6], scope=r[7],
                  gateway=_read_side(r[8:8 + n], r[8 + 2 * n]), provider=_read_side(r[8 + n:8 + 2 * n], r[9 + 2 * n]))
        rows[0 if r[1] else 1].append(row)
    return tuple(rows[0]), tuple(rows[1])


def load_report(conn: Conn, run_id: int) -> Report | None:
    """The report of a good run, as it was saved; None for a failed or unknown run."""
    with conn.read():
        run = get_run(conn, run_id)
        if run is None or run.status != "ok":
            return None
        rows, unattributed = run_rows(conn, run_id)
    return Report(provider=run.provider, since=run.since, until=run.until, account=run.account, rows=rows,
                  unattributed=unattributed, tolerance_usd=run.tolerance_usd, ran_at=run.ran_at,
                  matched_pct=run.matched_pct, unexplained_usd=run.unexplained_usd, notes=run.notes)


def claim_day(conn: Conn, provider: str, day: date, now: float | None = None) -> bool:
    """True the first time the scheduler claims `provider`'s `day` (once across every
    `serve` on the store: the second to ask is told no)."""
    with conn.tx():
        return conn.execute(
            "INSERT INTO reconcile_days (provider, day, claimed) VALUES (?, ?, ?) ON CONFLICT (provider, day) DO NOTHING"
            " RETURNING 1", [provider, day.isoformat(), iso(utcnow() if now is None else now)]).fetchone() is not None
