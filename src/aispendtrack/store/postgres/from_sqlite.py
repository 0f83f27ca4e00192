"""`aispendtrack db migrate`: copy a SQLite store into a PostgreSQL store, exactly.

Every table of AiSpendTrack's schema is copied row for row, ids included: keys keep their
digests (every key works as before), ledger rows their ids and decimal costs, the limiter
its hourly events and monthly counters, budgets their counters and the holds of calls in
flight, webhooks their endpoints, secrets and outbox. The source is read in one snapshot;
the target is written in one transaction (`COPY`), checked — rows per table and the
ledger's totals per account and model, equal to the last decimal — and only then
committed, so a failed or unequal copy leaves the target as it was. A target that already
holds rows is refused unless `force` (then emptied first, in the same transaction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aispendtrack.store import inventory
from aispendtrack.store.conn import BUDGETS, KEYS, KEYSTORE, VAULT, WEBHOOKS
from aispendtrack.store.postgres.store import PostgresStore
from aispendtrack.store.records import StoreError
from aispendtrack.store.sqlite.store import SqliteStore

NOT_COPIED = frozenset({"schema_version"})  # each store keeps its own (the target is migrated at open)
CHUNK = 5000


class CopyRefused(StoreError):
    """The copy was not made (a non-empty target, a value the target cannot hold, totals
    that differ); the message says why and the target is unchanged."""


@dataclass
class Copied:
    tables: dict[str, int]  # rows copied per table
    skipped: list[str]  # source tables that are not AiSpendTrack's (not copied)
    totals: dict = field(default_factory=dict)  # the ledger's totals, equal on both sides
    replaced: dict[str, int] = field(default_factory=dict)  # rows the target held before (with force)


def copy_store(source: SqliteStore, target: PostgresStore, *, force: bool = False,
               progress: Callable[[str, int], None] | None = None) -> Copied:
    with source.connection() as src, target.connection() as dst:
        schema = _target_columns(dst)
        tables = _in_reference_order(dst, set(schema) - NOT_COPIED)
        with src.read():
            have = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
            skipped = sorted(t for t in have - set(schema) - NOT_COPIED if not t.startswith("sqlite_"))
            missing = [t for t in tables if t not in have]
            if missing:
                raise CopyRefused(f"the SQLite store has no table {', '.join(missing)}: open it with this "
                                  "AiSpendTrack first (any command brings its schema up to date)")
            counts = inventory.table_counts(src, tables)
            totals = inventory.ledger_totals(src)
            with dst.tx(KEYSTORE):
                before = inventory.table_counts(dst, tables)
                if any(before.values()) and not force:
                    held = ", ".join(f"{t}: {n}" for t, n in before.items() if n)
                    raise CopyRefused(f"the target database is not empty ({held}); "
                                      "--force replaces everything in it")
                if any(before.values()):
                    dst.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
                for table in tables:
                    _copy_table(src, dst, table, schema[table])
                    if progress is not None:
                        progress(table, counts[table])
                _restart_identities(dst, tables)
                _verify(dst, tables, counts, totals)
                dst.signal(KEYS, BUDGETS, WEBHOOKS, VAULT)  # gateways already on the target reload everything
    return Copied(counts, skipped, totals, {t: n for t, n in before.items() if n})


def _target_columns(dst) -> dict[str, dict[str, str]]:
    """table → column → PostgreSQL data type, of the target's schema."""
    out: dict[str, dict[str, str]] = {}
    for table, column, type_ in dst.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position").fetchall():
        out.setdefault(table, {})[column] = type_
    return out


def _in_reference_order(dst, tables: set[str]) -> list[str]:
    """The tables sorted by name, each after the tables its foreign keys refer to."""
    refers: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in dst.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
            " WHERE contype = 'f' AND connamespace = current_schema()::regnamespace").fetchall():
        if child in refers and parent != child:
            refers[child].add(parent)
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = sorted(t for t in tables if t not in ordered and refers[t] <= set(ordered))
        if not ready:
            raise CopyRefused(f"circular foreign keys among {sorted(set(tables) - set(ordered))}")
        ordered += ready
    return ordered


def _copy_table(src, dst, table: str, columns: dict[str, str]) -> None:
    have = [d[0] for d in src.execute(f"SELECT * FROM {table} LIMIT 0").description]
    if extra := [c for c in have if c not in columns]:
        raise CopyRefused(f"table {table} of the SQLite store has column(s) {', '.join(extra)} that the "
                          "PostgreSQL schema lacks: nothing was copied")
    convert = [_converter(table, c, columns[c]) for c in have]
    cursor = src.execute(f"SELECT {', '.join(have)} FROM {table}")
    with dst.raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(have)}) FROM STDIN") as copy:
        while rows := cursor.fetchmany(CHUNK):
            for row in rows:
                copy.write_row([None if v is None else f(v) for f, v in zip(convert, row)])


def _converter(table: str, column: str, pg_type: str) -> Callable:
    """A SQLite value (typed per row: a column without affinity may hold 7 or "7") as the
    target column's type, or `CopyRefused` naming the table, column and value."""
    def refuse(value):
        raise CopyRefused(f"{table}.{column}: {value!r} cannot be stored as {pg_type}: nothing was copied")

    if pg_type == "text":
        def text(v):
            return v if isinstance(v, str) else str(v) if isinstance(v, (int, float)) else refuse(v)
        return text
    if pg_type in ("bigint", "integer"):
        def integer(v):
            if isinstance(v, int):
                return v
            if isinstance(v, float) and v.is_integer():
                return int(v)
            if isinstance(v, str) and v.strip().lstrip("-").isdigit():
                return int(v)
            return refuse(v)
        return integer
    if pg_type == "double precision":
        def real(v):
            if isinstance(v, (int, float)):
                return float(v)
            try:
                return float(v)
            except (TypeError, ValueError):
                return refuse(v)
        return real
    raise CopyRefused(f"{table}.{column} has type {pg_type}, which the copy does not know")


def _restart_identities(dst, tables: list[str]) -> None:
    """Identity columns continue after the copied ids (new accounts, members, ledger rows)."""
    for (table,) in dst.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND is_identity = 'YES' AND column_name = 'id'").fetchall():
        if table in tables:
            dst.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false)"
                        f" FROM {table}")


def _verify(dst, tables: list[str], counts: dict[str, int], totals: dict) -> None:
    copied = inventory.table_counts(dst, tables)
    if copied != counts:
        differ = ", ".join(f"{t}: {counts[t]} → {copied[t]}" for t in tables if copied[t] != counts[t])
        raise CopyRefused(f"rows differ after the copy ({differ}): nothing was copied")
    if (after := inventory.ledger_totals(dst)) != totals:
        differ = [k for k in set(after) | set(totals) if after.get(k) != totals.get(k)]
        raise CopyRefused(f"the ledger's totals differ after the copy for {differ[:5]}: nothing was copied")
