"""What a store holds, counted the same way on both engines: rows per table and the
ledger's totals per account and model (money summed exactly, as `Decimal`). `db migrate`
compares them between the source and the copy before it commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from aispendtrack.store.conn import Conn
from aispendtrack.store.totals import CTX

TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


@dataclass
class Totals:
    """One (account, model) group of the ledger: calls, priced calls, tokens, cost."""

    calls: int = 0
    priced: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKENS, 0))
    cost_usd: Decimal = Decimal(0)


def table_counts(conn: Conn, tables: Iterable[str]) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in tables}


def ledger_totals(conn: Conn) -> dict[tuple[str | None, str | None], Totals]:
    """Totals per (account, model). Costs are decimal text, summed here with `Decimal`:
    exact on both engines (SQLite would sum them as floats)."""
    out: dict[tuple[str | None, str | None], Totals] = {}
    sums = ", ".join(f"SUM({t})" for t in TOKENS)
    for account, model, calls, priced, *tokens in conn.execute(
            f"SELECT account, model, COUNT(*), COUNT(cost_usd), {sums} FROM calls GROUP BY account, model").fetchall():
        group = out.setdefault((account, model), Totals())
        group.calls, group.priced = int(calls), int(priced)
        group.tokens = {t: int(v or 0) for t, v in zip(TOKENS, tokens)}
    cursor = conn.execute("SELECT account, model, cost_usd FROM calls WHERE cost_usd IS NOT NULL")
    while rows := cursor.fetchmany(10_000):
        for account, model, cost in rows:
            group = out[(account, model)]
            group.cost_usd = CTX.add(group.cost_usd, Decimal(cost))
    return out


def grand_total(totals: dict[tuple[str | None, str | None], Totals]) -> Totals:
    whole = Totals()
    for group in totals.values():
        whole.calls += group.calls
        whole.priced += group.priced
        whole.cost_usd = CTX.add(whole.cost_usd, group.cost_usd)
        for t in TOKENS:
            whole.tokens[t] += group.tokens[t]
    return whole
