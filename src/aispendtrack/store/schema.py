"""Every table of the database, created in one call: `ensure_schema(database)`.

Each table's DDL stays with the module that owns the table (`keys`, `ledger_schema`,
`limits`, `presence`, `sessions`); this is the one place that knows the full set, so the
proxy, the CLI, the demo and the benchmark all open the same database.
"""

from __future__ import annotations

import sqlite_utils

from aispendtrack.store import budgets_schema, keys, ledger_schema, limits, presence, sessions


def ensure_schema(database: sqlite_utils.Database) -> None:
    """Create whatever is missing (idempotent, safe across processes)."""
    keys.ensure_schema(database)
    ledger_schema.ensure_schema(database)
    limits.ensure_schema(database)
    presence.ensure_schema(database)
    sessions.ensure_schema(database)
    budgets_schema.ensure_schema(database)
