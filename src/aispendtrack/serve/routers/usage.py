"""`GET /v1/usage` (what `aispendtrack report --json` says for the account) and
`GET /v1/calls` (the account's ledger rows, streamed, as `aispendtrack export` writes them)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from aispendtrack.config import Config
from aispendtrack.serve import deps
from aispendtrack.serve.errors import fail
from aispendtrack.serve.roles import Caller, caller
from aispendtrack.store.base import SqlStore
from aispendtrack.store.reads.report import tag_of
from aispendtrack.views import export
from aispendtrack.store.db import utcnow
from aispendtrack.views.budgets import budget_entries
from aispendtrack.views.daterange import parse_range, parse_tag
from aispendtrack.views.periods import resolve_period
from aispendtrack.views.report import report

router = APIRouter(prefix="/v1", tags=["usage"])


PERIOD = Query(None, description="today, 7d, month, last-month or 30d (UTC days), instead of since/until")
FROM = Query(None, alias="from", description="First UTC day (YYYY-MM-DD), with `to`: instead of since/until")
TO = Query(None, description="Last UTC day, included (YYYY-MM-DD; default today)")
TAG = Query(None, description="Only the calls with this tag: NAME=VALUE (e.g. feature=search)")


def _period(since: str | None, until: str | None, period: str | None = None, from_: str | None = None,
            to: str | None = None) -> tuple[datetime | None, datetime | None]:
    """[since, until) from ISO bounds, or from the dashboard's choice of UTC days
    (`views.daterange`: period=7d, from/to) — one or the other."""
    try:
        if period or from_ or to:
            if since or until:
                raise ValueError("since: give either since/until or period/from/to, not both")
            days = parse_range(utcnow().date(), period, from_, to)
            return days.since, days.until
        period = resolve_period(since=since, until=until)
    except ValueError as e:
        raise fail(400, "invalid_request", str(e)) from None
    if period[0] and period[1] and period[1] <= period[0]:
        raise fail(400, "invalid_request", "until must be later than since")
    return period


def _tag(tag: str | None) -> tuple[str, str] | None:
    try:
        return parse_tag(tag)
    except ValueError as e:
        raise fail(400, "invalid_request", str(e)) from None


@router.get("/usage")
def usage(since: str | None = None, until: str | None = None, period: str | None = PERIOD,
          from_: str | None = FROM, to: str | None = TO, tag: str | None = TAG,
          by: str = Query("model", description="day, model, key, member, or tag:NAME (a call tag)"),
          who: Caller = Depends(caller("api")), store: SqlStore = Depends(deps.store),
          cfg: Config = Depends(deps.config)) -> dict:
    """Totals and groups for [since, until) (ISO dates or datetimes, UTC; or `period`, or
    `from`/`to` days), money as decimal strings, latency percentiles (nearest rank, ms) per
    group and in all, and the budgets in force; the whole account for owner/admin keys, the
    member's own keys (and the account's budget, which binds them) otherwise."""
    since_t, until_t = _period(since, until, period, from_, to)
    if by not in ("day", "model", "key", "member") and tag_of(by) is None:
        raise fail(422, "invalid_request", "by: one of day, model, key, member, or tag:NAME")
    rep = report(store, since=since_t, until=until_t, by=by, account=who.key.account, member_id=own(who),
                 tag=_tag(tag), latency=True)
    member = None if who.whole_account else who.member
    return {**rep.to_dict(), "budgets": budget_entries(store, cfg, account=who.key.account, member=member)}


def own(who: Caller) -> int | None:
    """Whose calls a key may read: None = the whole account."""
    return None if who.whole_account else who.member_id


CHUNK_ROWS = 500


def _rows(store: SqlStore, fmt: str, since, until, account: str, member_id: int | None = None,
          tag: tuple[str, str] | None = None) -> Iterator[str]:
    """The export, a chunk of rows at a time, on a connection of its own (`export_rows`:
    the stream's chunks are read on whichever worker thread runs them)."""
    rows = export.export_rows(store, since=since, until=until, account=account, member_id=member_id, tag=tag)
    write = export.write_csv_rows if fmt == "csv" else export.write_jsonl
    try:
        buf = io.StringIO()
        if fmt == "csv":
            export.write_csv((), buf)  # the header, even for no rows
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == CHUNK_ROWS:
                write(batch, buf)
                batch.clear()
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        write(batch, buf)
        yield buf.getvalue()
    finally:
        rows.close()


@router.get("/calls")
def calls(request: Request, since: str | None = None, until: str | None = None, period: str | None = PERIOD,
          from_: str | None = FROM, to: str | None = TO, tag: str | None = TAG,
          format: Literal["jsonl", "csv"] = "jsonl",
          who: Caller = Depends(caller("export"))) -> StreamingResponse:
    """The account's ledger rows, oldest first, streamed (fields as `aispendtrack export`)."""
    since_t, until_t = _period(since, until, period, from_, to)
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(_rows(request.app.state.store, format, since_t, until_t, who.key.account, own(who),
                                   _tag(tag)), media_type=media)
