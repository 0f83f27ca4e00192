"""Saved reconciliations (issue 26): each run's report, its rows, and who it concerns.

A run is saved whole in one transaction — its summary, every row, the accounts it
concerns and its `reconcile.drift` events — or not at all, so a save that fails leaves the
previous runs as they were. A run that could not be made (provider unreachable, bad admin
key, rate limited) is saved too, as `status = 'error'` with its message: the page says when
the last attempt failed while still showing the last good run. Nothing is ever replaced.

The accounts a run concerns are decided by the caller when it saves (the run's account, or
every account the provider scope maps to) and kept with it: they are who sees the run on
the dashboard and in `/v1/reconcile`, and whom the drift event is sent to.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from aispendtrack.reconcile.model import Report, Row, Side
from aispendtrack.store import outbox
from aispendtrack.store.conn import Conn
from aispendtrack.store.db import iso, utcnow
from aispendtrack.store.sqlite.schema import SIDE

DRIFT = "reconcile.drift"
_RUN = ("id, provider, since, until, account, ran_at, status, matched_pct, unexplained_usd, tolerance_usd, error, "
        "notes, (SELECT count(*) FROM reconcile_rows w WHERE w.run_id = r.id AND w.verdict <> 'matches')")
_ROW = ("seq, attributed, day, model, verdict, note, scope, "
        + ", ".join(f"{side}_{c}" for side in ("gw", "pv") for c in SIDE) + ", gw_usd, pv_usd")


def dashboard_path(run_id: int) -> str:
    """Where the dashboard shows one run's rows (the drift event links to it)."""
    return f"/dashboard/reconcile/{run_id}"


@dataclass(frozen=True, slots=True)
class ReconcileRun:
    """A saved run's summary; `matched_pct`, `unexplained_usd`, `tolerance_usd` are None for
    a failed run, `error` is None for a good one."""

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
    off_rows: int  # rows whose verdict is not "matches" (unattributed included)

    def as_json(self) -> dict:
        return {"id": self.id, "provider": self.provider, "since": self.since.isoformat(),
                "until": self.until.isoformat(), "account": self.account, "ran_at": self.ran_at,
                "status": self.status, "matched_pct": self.matched_pct,
                "unexplained_usd": None if self.unexplained_usd is None else str(self.unexplained_usd),
                "tolerance_usd": None if self.tolerance_usd is None else str(self.tolerance_usd),
                "error": self.error, "notes": list(self.notes), "off_rows": self.off_rows,
                "dashboard": dashboard_path(self.id)}


def _concerned(account: str | None, accounts: Iterable[str]) -> tuple[str, ...]:
    return (account,) if account is not None else tuple(sorted(set(accounts)))


def _pct(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _insert_run(conn: Conn, values: list, concerned: Sequence[str]) -> int:
    run_id = conn.insert(
        "INSERT INTO reconcile_runs (provider, since, until, account, ran_at, status, matched_pct, unexplained_usd,"
        " tolerance_usd, error, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
    conn.executemany("INSERT INTO reconcile_run_accounts (account, run_id) VALUES (?, ?)",
                     [(a, run_id) for a in concerned])
    return run_id


def _side(side: Side) -> list:
    return [side.input_tokens, side.cached_tokens, side.output_tokens, side.batch_tokens, side.requests]


def save_report(conn: Conn, report: Report, *, accounts: Iterable[str] = (), drift_usd: Decimal | None = None,
                now: float | None = None) -> int:
    """Save `report` with its rows; the new run's id. `accounts`: whom a report over every
    account (`report.account` None) concerns. With `drift_usd`, a `reconcile.drift` event is
    queued, in the same transaction, to each account concerned when the report's unexplained
    dollars are above it: once per run."""
    concerned = _concerned(report.account, accounts)
    rows = [(True, r) for r in report.rows] + [(False, r) for r in report.unattributed]
    with conn.tx():
        run_id = _insert_run(conn, [
            report.provider, report.since.isoformat(), report.until.isoformat(), report.account, report.ran_at, "ok",
            _pct(report.matched_pct), str(report.unexplained_usd), str(report.tolerance_usd), None,
            json.dumps(list(report.notes))], concerned)
        conn.executemany(
            f"INSERT INTO reconcile_rows (run_id, {_ROW}) VALUES ({', '.join('?' * (2 + _ROW.count(',')))})",
            [[run_id, seq, int(attributed), r.day.isoformat(), r.model, r.verdict, r.note, r.scope,
              *_side(r.gateway), *_side(r.provider), str(r.gateway.usd), str(r.provider.usd)]
             for seq, (attributed, r) in enumerate(rows)])
        if drift_usd is not None and report.unexplained_usd > drift_usd:
            data = {"provider": report.provider, "run_id": run_id, "run_account": report.account,
                    "period": {"since": report.since.isoformat(), "until": report.until.isoformat()},
                    "matched_pct": _pct(report.matched_pct), "unexplained_usd": str(report.unexplained_usd),
                    "drift_usd": str(drift_usd), "ran_at": report.ran_at, "dashboard": dashboard_path(run_id)}
            for account in concerned:
                outbox.emit(conn, account, DRIFT, {"account": account, **data}, now=now)
    return run_id


def save_failure(conn: Conn, provider: str, since: date, until: date, error: str, *, account: str | None = None,
                 accounts: Iterable[str] = (), ran_at: str | None = None) -> int:
    """Save a run that could not be made, with its (user-facing) message; its id."""
    with conn.tx():
        return _insert_run(conn, [provider, since.isoformat(), until.isoformat(), account, ran_at or iso(utcnow()),
                                  "error", None, None, None, error, "[]"], _concerned(account, accounts))


def _runs(conn: Conn, where: str, params: list) -> list[ReconcileRun]:
    found = conn.execute(f"SELECT {_RUN} FROM reconcile_runs r WHERE {where} ORDER BY r.provider, r.id",
                         params).fetchall()
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
        accounts=tuple(concerned[r[0]]), ran_at=r[5], status=r[6], matched_pct=r[7],
        unexplained_usd=None if r[8] is None else Decimal(r[8]), tolerance_usd=None if r[9] is None else Decimal(r[9]),
        error=r[10], notes=tuple(json.loads(r[11])), off_rows=int(r[12])) for r in found]


def _concerns(account: str | None) -> tuple[str, list]:
    if account is None:
        return "", []
    return " AND EXISTS (SELECT 1 FROM reconcile_run_accounts a WHERE a.run_id = {0}.id AND a.account = ?)", [account]


def latest_runs(conn: Conn, account: str | None = None, *, ok_only: bool = False) -> list[ReconcileRun]:
    """The newest saved run per provider and run scope (the run's account, or every
    account), of those concerning `account` (None: every run); only good ones with `ok_only`."""
    concerns, params = _concerns(account)
    status = " AND l.status = 'ok'" if ok_only else ""
    with conn.read():
        return _runs(conn, f"r.id IN (SELECT MAX(l.id) FROM reconcile_runs l WHERE 1 = 1{status}"
                           f"{concerns.format('l')} GROUP BY l.provider, l.account)", params)


def get_run(conn: Conn, run_id: int, account: str | None = None) -> ReconcileRun | None:
    """Run `run_id`, if it concerns `account` (None: any run); else None."""
    concerns, params = _concerns(account)
    with conn.read():
        found = _runs(conn, f"r.id = ?{concerns.format('r')}", [run_id, *params])
    return found[0] if found else None


def _read_side(values: Sequence, usd: str) -> Side:
    return Side(*(int(v) for v in values), usd=Decimal(usd))


def run_rows(conn: Conn, run_id: int) -> tuple[tuple[Row, ...], tuple[Row, ...]]:
    """A run's rows as saved: (rows, unattributed), each in the report's order."""
    n = len(SIDE)
    rows: tuple[list[Row], list[Row]] = ([], [])
    for r in conn.execute(f"SELECT {_ROW} FROM reconcile_rows WHERE run_id = ? ORDER BY seq", [run_id]).fetchall():
        row = Row(day=date.fromisoformat(r[2]), model=r[3], verdict=r[4], note=r[5], scope=r[6],
                  gateway=_read_side(r[7:7 + n], r[7 + 2 * n]), provider=_read_side(r[7 + n:7 + 2 * n], r[8 + 2 * n]))
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
