"""`Stats` of groups of ledger rows, summed by the database, money exact on both engines.

SQLite would sum decimal text as floats, so each row's cost becomes an integer number of
pico-dollars, `CAST(ROUND(cost_usd * 1e12) AS INTEGER)`, and those integers are summed
(SQLite's integer sums are exact and raise on overflow). That is exact for every row of a
group when its costs are plain decimals with at most 12 fractional digits and below $1000:
then n = cost * 10^12 is an integer below 2^50, and two roundings (parse, multiply) err by
at most n * 2^-52 < 0.25, so ROUND recovers n. The query checks both conditions per group
(MAX of digit count, MAX of magnitude). PostgreSQL sums `cost_usd::numeric`, exact, over
the costs that read as decimals, and counts those that do not. A group that fails its
check is summed again in Python with `Decimal` from its cost text, where a cost that is
not a number counts as an unpriced call.

Counts are integers (0 for none); token sums stay NULL while every row of a group has
NULL for that count (unknown is not 0).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from aispendtrack.store.conn import Conn, Dialect
from aispendtrack.store.ledger_schema import REFUSED, Outcome, sql_in
from aispendtrack.store.totals import CTX, Stats

log = logging.getLogger(__name__)

_PICO = Decimal("1e-12")
# A decimal number as PostgreSQL's numeric and Python's Decimal both read it.
_DECIMAL_RE = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
# A local call's $0 is in the cost sum (it adds nothing) but it is not a priced call.
NOT_LOCAL = "(pricing IS NULL OR pricing <> 'local')"
TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


def _counts(d: Dialect) -> list[str]:
    def n(cond: str) -> str:
        return f"coalesce({d.count_if(cond)}, 0)"

    return [
        "COUNT(*)", n(f"outcome = '{Outcome.FORWARDED}'"),
        n(f"outcome IN {sql_in({Outcome.UPSTREAM_ERROR, Outcome.ABORTED})}"),
        n(f"outcome = '{Outcome.REJECTED}'"), n(f"outcome = '{Outcome.RATE_LIMITED}'"),
        n(f"outcome = '{Outcome.QUOTA_EXCEEDED}'"), n(f"outcome = '{Outcome.BUDGET_EXCEEDED}'"),
        n(f"outcome = '{Outcome.FORBIDDEN}'"),
        *(f"CAST(SUM({t}) AS BIGINT)" for t in TOKENS),
        n(f"cost_usd IS NOT NULL AND {NOT_LOCAL}"), n("cost_usd IS NULL AND pricing IN ('priced', 'unpriced')"),
        n(f"cost_usd IS NULL AND pricing = 'unmetered' AND outcome NOT IN {sql_in(REFUSED)}"),
        n("pricing = 'local'"),
    ]  # fmt: skip


def money(d: Dialect) -> list[str]:
    """The select list of a group's exact cost (read back with `money_of`)."""
    if d.name == "postgres":
        return [f"SUM(CASE WHEN cost_usd ~ '{_DECIMAL_RE}' THEN cost_usd::numeric END)",
                f"coalesce({d.count_if(f"cost_usd !~ '{_DECIMAL_RE}'")}, 0)", "0"]
    return ["SUM(CAST(ROUND(cost_usd * 1e12) AS INTEGER))",
            "MAX(length(cost_usd) - instr(cost_usd, '.') + 99 * (instr(cost_usd, 'E') + instr(cost_usd, 'e')))",
            "MAX(abs(cost_usd * 1.0))"]


def aggregate(d: Dialect) -> str:
    """The select list of a group's sums (read back with `stats_of`)."""
    return ", ".join(_counts(d) + money(d))


def stats_of(d: Dialect, values: Sequence[Any]) -> tuple[Stats, bool]:
    """The `Stats` of an `aggregate` row, and whether its cost is exact (else re-sum it)."""
    v = values
    st = Stats(
        calls=v[0], forwarded=v[1], errors=v[2], rejected=v[3], rate_limited=v[4], quota_exceeded=v[5],
        budget_exceeded=v[6], forbidden=v[7], input_tokens=v[8], cache_read_tokens=v[9],
        cache_write_tokens=v[10], output_tokens=v[11], reasoning_tokens=v[12], priced_calls=v[13],
        unpriced_calls=v[14], unmetered_calls=v[15], local_calls=v[16],
    )  # fmt: skip
    st.cost_usd, exact = money_of(d, v[17:])
    return st, exact


def money_of(d: Dialect, v: Sequence[Any]) -> tuple[Decimal, bool]:
    """A `money` row's cost, and whether it is exact (else re-sum it with `exact_cost`)."""
    if d.name == "postgres":
        return Decimal(v[0] or 0), v[1] == 0
    return CTX.multiply(Decimal(v[0] or 0), _PICO), v[1] is None or (v[1] <= 12 and v[2] < 1000)


def exact_cost(conn: Conn, sql_from: str, where: str, params: Sequence[Any], stats: Stats) -> None:
    """Re-sum a group's costs with Decimal (`SELECT cost_usd {sql_from} WHERE {where}`);
    a cost that is not a number counts as an unpriced call."""
    total = Decimal(0)
    for (text,) in conn.execute(f"SELECT cost_usd {sql_from} WHERE {where} AND cost_usd IS NOT NULL",
                                params).fetchall():
        try:
            value = Decimal(str(text).strip())
            if not value.is_finite():
                raise InvalidOperation
            total = CTX.add(total, value)
        except InvalidOperation:
            log.warning("ledger row with invalid cost_usd %r counted as unpriced", text)
            stats.priced_calls -= 1
            stats.unpriced_calls += 1
    stats.cost_usd = total


def equal(expr: str, value: Any) -> tuple[str, list]:
    """`expr` equals `value`, NULL included (both engines; PostgreSQL has no `IS ?`)."""
    return (f"{expr} IS NULL", []) if value is None else (f"{expr} = ?", [value])


def grouped(conn: Conn, dims: Sequence[str], sql_from: str, conds: Sequence[str],
            params: Sequence[Any]) -> list[tuple[tuple, Stats]]:
    """(values of `dims`, Stats) per group of the ledger rows `{sql_from} WHERE {conds}`
    (`sql_from` names the ledger `calls`, joins allowed), money exact."""
    where = " AND ".join(conds) or "1 = 1"
    n = len(dims)
    by = ", ".join(str(i + 1) for i in range(n))
    sql = f"SELECT {', '.join(dims)}, {aggregate(conn.dialect)} {sql_from} WHERE {where}"
    if n:
        sql += f" GROUP BY {by}"
    out = []
    for row in conn.execute(sql, list(params)).fetchall():
        if row[n] == 0:  # no group at all: an aggregate without GROUP BY over no rows
            continue
        st, exact = stats_of(conn.dialect, row[n:])
        if not exact:
            more, args = [where], list(params)
            for expr, value in zip(dims, row[:n]):
                cond, arg = equal(expr, value)
                more.append(cond)
                args += arg
            exact_cost(conn, sql_from, " AND ".join(more), args, st)
        out.append((tuple(row[:n]), st))
    return out
