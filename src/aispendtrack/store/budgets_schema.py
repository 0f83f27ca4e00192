"""The budget tables (see store/budgets.py for what they hold): created and upgraded here."""

from __future__ import annotations

from aispendtrack.store import outbox

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS budgets (
        scope TEXT NOT NULL,  -- account | key
        subject NOT NULL,  -- account name or key id; no type affinity: stored as given
        limit_nano INTEGER NOT NULL,
        period TEXT NOT NULL,
        since REAL NOT NULL,
        PRIMARY KEY (scope, subject)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS budget_spend (
        scope TEXT NOT NULL,
        subject NOT NULL,
        period_key TEXT NOT NULL,
        spent_nano INTEGER NOT NULL DEFAULT 0,
        reserved_nano INTEGER NOT NULL DEFAULT 0,
        overshoot_nano INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, subject, period_key)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS budget_reservations (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        amount_nano INTEGER NOT NULL,
        key_id TEXT,
        key_period TEXT,  -- the key's counter held, if the key has a budget
        account TEXT,
        account_period TEXT,  -- the account's counter held, if it has a budget
        expired INTEGER NOT NULL DEFAULT 0,
        key_limit INTEGER,  -- the budgets in force at the hold (a tier default has no row)
        account_limit INTEGER
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS budget_reservations_created ON budget_reservations (expired, created)",
)


def ensure_schema(db) -> None:
    conn = getattr(db, "conn", db)
    for sql in SCHEMA:
        conn.execute(sql)
    outbox.ensure_schema(conn)
    old = "SELECT 1 FROM pragma_table_info('budget_reservations') WHERE name = 'key_limit'"
    if conn.execute(old).fetchone() is None:
        conn.execute("BEGIN IMMEDIATE")  # another process may be adding them too
        try:
            if conn.execute(old).fetchone() is None:
                conn.execute("ALTER TABLE budget_reservations ADD COLUMN key_limit INTEGER")
                conn.execute("ALTER TABLE budget_reservations ADD COLUMN account_limit INTEGER")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
