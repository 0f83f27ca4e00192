"""`/v1/reconcile`: the account's saved reconciliations (the ledger against the provider's
bill, issue 26), for owner and admin keys. The account's share only: its own rows and
figures, never another account's nor provider usage attributed to no account. Another
account's run is answered as one that does not exist."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from aispendtrack.serve import deps
from aispendtrack.serve.errors import fail
from aispendtrack.serve.roles import Caller, at_least
from aispendtrack.store.base import SqlStore
from aispendtrack.views import reconcile as view

router = APIRouter(prefix="/v1/reconcile", tags=["reconcile"])
admin = at_least("admin")


class Run(BaseModel):
    id: int
    provider: str
    since: str = Field(description="first UTC day")
    until: str = Field(description="last UTC day (inclusive)")
    account: str | None = Field(description="null: a run over every account the provider scope maps to")
    ran_at: str
    status: str = Field(description="ok, or error (then `error` says why)")
    matched_pct: float | None = Field(description="share of the provider's dollars on this account's matching rows")
    unexplained_usd: str | None = Field(description="sum of |provider - gateway| dollars on this account's other rows")
    tolerance_usd: str | None
    error: str | None
    notes: list[str]
    off_rows: int = Field(description="this account's rows whose verdict is not `matches`")
    dashboard: str = Field(description="the run's page on the dashboard")


class Latest(BaseModel):
    latest: Run = Field(description="the newest run of a provider (and run scope)")
    last_good: Run | None = Field(description="the newest run that did not fail (the same run when it did not)")


class Side(BaseModel):
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    batch_tokens: int
    requests: int
    usd: str


class Row(BaseModel):
    day: str
    model: str
    verdict: str
    note: str
    gateway: Side
    provider: Side
    difference_usd: str = Field(description="provider minus gateway")


class RunRows(Run):
    rows: list[Row]


@router.get("", response_model=list[Latest])
def latest(who: Caller = Depends(admin), store: SqlStore = Depends(deps.store)) -> list[Latest]:
    return [Latest(latest=Run(**run.as_json()), last_good=None if good is None else Run(**good.as_json()))
            for run, good in view.latest(store, who.key.account)]


@router.get("/{run_id}", response_model=RunRows)
def run(run_id: int = Path(ge=1, le=2**62), who: Caller = Depends(admin),
        store: SqlStore = Depends(deps.store)) -> RunRows:
    found = store.get_reconcile_run(run_id, who.key.account)
    if found is None:
        raise fail(404, "not_found", f"no reconciliation run {run_id} for account {who.key.account}")
    rows, _ = store.reconcile_run_rows(run_id, who.key.account)
    return RunRows(**found.as_json(), rows=[view.row_json(r) for r in rows])
