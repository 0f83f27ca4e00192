"""Streaming export of the ledger (`calls`) as CSV or JSON lines.

Rows come from the store's stream (`store.export_rows`: one statement, ordered by (ts, id))
and are written as they come: memory stays flat whatever the size of the ledger. Unknown values stay null (an empty CSV cell), never
0; `cost_usd` is exact decimal text. Every CSV cell goes through `csv_cell`, which also
defuses spreadsheet formulas (the CLI, `/v1/calls` and the dashboard download alike).

    aispendtrack export --since 2026-11-01 --until 2026-11-30 --format csv -o nov.csv
    aispendtrack export --account acme | head
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import IO, Any

import click

from aispendtrack.store.reads.legacy import as_store
from aispendtrack.store.reads.rows import EXPORT_FIELDS
from aispendtrack.views.opening import open_existing
from aispendtrack.views.periods import parse_when

__all__ = ["EXPORT_FIELDS", "csv_cell", "export_command", "export_rows", "parse_bound", "write_csv",
           "write_csv_rows", "write_jsonl"]
_BOOL_FIELDS = frozenset({"streamed", "partial"})


def parse_bound(text: str, *, end: bool = False) -> datetime:
    """ISO date or datetime → aware UTC datetime; naive is UTC. A date is midnight UTC, or
    as an `end` bound the end of that day (the same rule as `report`)."""
    return parse_when(text, end=end)


def _utc(value: datetime | date) -> datetime:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _cost_text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return format(Decimal(str(value)), "f")
    except InvalidOperation:
        return str(value)


def _convert(row: dict[str, Any]) -> dict[str, Any]:
    for name in _BOOL_FIELDS:
        if row[name] is not None:
            row[name] = bool(row[name])
    row["cost_usd"] = _cost_text(row["cost_usd"])
    for name in ("usage_json", "tags"):  # objects in JSONL, a JSON cell in CSV
        if isinstance(row[name], str):
            try:
                row[name] = json.loads(row[name])
            except ValueError:
                pass  # keep the text as stored
    return row


def export_rows(
    store,
    *,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
    account: str | None = None,
    key: str | None = None,
    member_id: int | None = None,
    tag: tuple[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ledger rows (dicts keyed by EXPORT_FIELDS, in that order), oldest first.

    `since` is inclusive, `until` exclusive; naive datetimes and dates are UTC. `key` is a
    key id (`key_…`); `tag` (name, value) keeps the calls with that tag. Lazy: rows are
    streamed as the caller iterates (close the iterator when stopping early: it holds a
    connection of its own).
    """
    rows = as_store(store).export_rows(since=None if since is None else _utc(since),
                                       until=None if until is None else _utc(until),
                                       account=account, key=key, member_id=member_id, tag=tag)
    try:
        for row in rows:
            yield _convert(row._asdict())
    finally:
        rows.close()


# A spreadsheet reads a cell starting with one of these as a formula (OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One CSV cell's text. Ledger values come from clients (a model name can be
    `=HYPERLINK(…)`), so a cell that a spreadsheet would run as a formula gets a leading
    `'`: every cell, numbers too (no number we store is negative, so none changes)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class _LineFeed:
    """What `csv.writer` writes to: rows end in `\\n`, while the writer, told they end in
    `\\r\\n`, quotes every cell that holds a CR (told `\\n` alone it leaves a lone CR
    unquoted, and a spreadsheet starts a new row there)."""

    def __init__(self, fp: IO[str]):
        self.fp = fp

    def write(self, line: str) -> int:
        return self.fp.write(line[:-2] + "\n")  # the writer writes one whole row per call


def _writer(fp: IO[str]):
    return csv.writer(_LineFeed(fp), lineterminator="\r\n")


def write_csv(rows: Iterable[dict[str, Any]], fp: IO[str], fields: tuple[str, ...] = EXPORT_FIELDS) -> int:
    """CSV with a header (always, even with no rows), `\\n` line ends; returns the row count."""
    _writer(fp).writerow(fields)
    return write_csv_rows(rows, fp, fields)


def write_csv_rows(rows: Iterable[dict[str, Any]], fp: IO[str], fields: tuple[str, ...] = EXPORT_FIELDS) -> int:
    """CSV rows without the header (to continue a streamed file)."""
    writer = _writer(fp)
    n = 0
    for row in rows:
        writer.writerow([csv_cell(row.get(f)) for f in fields])
        n += 1
    return n


def write_jsonl(rows: Iterable[dict[str, Any]], fp: IO[str]) -> int:
    """One JSON object per line; returns the row count."""
    n = 0
    for row in rows:
        fp.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
        fp.write("\n")
        n += 1
    return n


def _bound_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_bound(value, end=param.name == "until")
    except ValueError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


@click.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True,
    help="jsonl: one JSON object per line (streamed as true/false, nulls as null); "
    "csv: header row, empty cell for unknown values.",
)
@click.option("--since", callback=_bound_option, metavar="DATE|DATETIME",
              help="Include calls from this moment (inclusive). A date is midnight UTC; no zone = UTC.")
@click.option("--until", callback=_bound_option, metavar="DATE|DATETIME",
              help="Include calls before this moment (exclusive); a date includes that whole day.")
@click.option("--account", help="Only calls of this account (name).")
@click.option("--key", help="Only calls made with this key id (key_…).")
@click.option("--output", "-o", default="-", metavar="FILE", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write to FILE instead of standard output.")
def export_command(
    fmt: str, since: datetime | None, until: datetime | None, account: str | None,
    key: str | None, output: str,
) -> None:
    """Export ledger rows (one per call), oldest first, streamed."""
    ctx = click.get_current_context()
    if since is not None and until is not None and until <= since:
        raise click.BadParameter("must be later than --since", ctx=ctx, param_hint="'--until'")
    store = open_existing((ctx.obj or {})["db_path"])
    write = write_csv if fmt == "csv" else write_jsonl
    rows = export_rows(store, since=since, until=until, account=account, key=key)
    try:
        with click.open_file(output, "w", encoding="utf-8") as fp:
            try:
                write(rows, fp)
                fp.flush()
            except BrokenPipeError:
                _silence_stdout()
                ctx.exit(1)
    finally:
        rows.close()
        store.close()


def _silence_stdout() -> None:
    """After `| head` closed the pipe: point stdout at devnull so the exit flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
