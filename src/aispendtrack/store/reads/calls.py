"""Ledger rows themselves: the export stream, the latest calls, a count of a time range."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from aispendtrack.store.conn import Conn
from aispendtrack.store.db import iso
from aispendtrack.store.reads.daily import MEMBER_KEYS
from aispendtrack.store.reads.report import tag_cond
from aispendtrack.store.reads.rows import CALL_FIELDS, EXPORT_FIELDS, CallRow, ExportRow

_EXPORT = f"SELECT {', '.join(EXPORT_FIELDS)} FROM calls"
_LATEST = f"SELECT {', '.join(CALL_FIELDS)} FROM calls"


def _where(conn: Conn, *, since: datetime | None = None, until: datetime | None = None,
           account: str | None = None, key: str | None = None, member_id: int | None = None,
           tag: tuple[str, str] | None = None) -> tuple[str, list]:
    conds, params = [], []
    for cond, value in (("ts >= ?", since and iso(since)), ("ts < ?", until and iso(until)),
                        ("account = ?", account), ("key_id = ?", key), (MEMBER_KEYS, member_id)):
        if value is not None:
            conds.append(cond)
            params.append(value)
    if (tagged := tag_cond(conn, tag)) is not None:
        conds.append(tagged[0])
        params += tagged[1]
    return (f" WHERE {' AND '.join(conds)}" if conds else ""), params


def export_rows(conn: Conn, *, since: datetime | None = None, until: datetime | None = None,
                account: str | None = None, key: str | None = None,
                member_id: int | None = None, tag: tuple[str, str] | None = None) -> Iterator[ExportRow]:
    """Ledger rows in [since, until), oldest first (by ts, then id): only `account`'s, only
    key id `key`'s, only the keys of member `member_id`, only those tagged `tag` (name,
    value). Streamed from one statement (one snapshot), a batch of rows in memory at a
    time: give it a connection of its own."""
    where, params = _where(conn, since=since, until=until, account=account, key=key, member_id=member_id, tag=tag)
    for values in conn.stream(f"{_EXPORT}{where} ORDER BY ts, id", params):
        yield ExportRow(*values)


def latest_calls(conn: Conn, n: int, *, account: str | None = None, member_id: int | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 tag: tuple[str, str] | None = None) -> list[CallRow]:
    """The `n` calls that started last (by ts, then id) in [since, until), newest first: of
    every account, of `account`, of the keys of member `member_id`, tagged `tag`."""
    where, params = _where(conn, since=since, until=until, account=account, member_id=member_id, tag=tag)
    rows = conn.execute(f"{_LATEST}{where} ORDER BY ts DESC, id DESC LIMIT ?", [*params, n]).fetchall()
    return [CallRow(*r) for r in rows]


def count_calls(conn: Conn, since: datetime, until: datetime) -> int:
    """Ledger rows with `ts` in [since, until]."""
    (n,) = conn.execute("SELECT COUNT(*) FROM calls WHERE ts >= ? AND ts <= ?", [iso(since), iso(until)]).fetchone()
    return n
