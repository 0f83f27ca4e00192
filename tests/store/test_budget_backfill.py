"""A budget counter made on a period's first call is filled from the daily sums, which the
ledger's transaction keeps: the same nano-dollars as summing the period's rows, on both
engines, for every kind of period."""

import random
from decimal import Decimal

import pytest

from aispendtrack.limits import budget as rules
from aispendtrack.store import budgets
from aispendtrack.store.db import iso

T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z


@pytest.mark.parametrize("period", ["day", "week", "month", "total"])
def test_spend_from_the_daily_sums_equals_the_rows(store, period):
    rng = random.Random(7)
    store.record([{"ts": iso(T0 - rng.uniform(0, 45 * rules.DAY)), "key_id": rng.choice(["k1", "k2"]),
                   "account": rng.choice(["acme", "beta"]), "provider": "openai", "outcome": "forwarded",
                   "cost_usd": Decimal(rng.randint(1, 10**7)) / 10**9 if rng.random() < 0.9 else None,
                   "pricing": "priced"} for _ in range(400)])
    _, start, end = rules.period_bounds(period, T0)
    with store.connection() as conn:
        for scope, subject in (("account", "acme"), ("key", "k1"), ("key", "k2"), ("account", "nobody")):
            col = budgets._LEDGER_COLUMN[scope]
            from_rows = budgets._rows_spend(conn, col, subject, start, end)
            assert budgets.ledger_spend(conn, scope, subject, start, end) == from_rows
            assert (from_rows > 0) == (subject != "nobody")
