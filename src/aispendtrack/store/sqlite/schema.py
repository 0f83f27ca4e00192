"""The SQLite tables, as numbered migrations (`store.migrate` applies them in order).

Version 1 is every table as the releases before schema versions made them: it creates what
is missing and brings a database of any earlier release up to it (columns added since, a
renamed column, the owner member of accounts made before members existed), so an existing
file keeps all its rows.
"""

from __future__ import annotations

from aispendtrack.store.conn import Conn
from aispendtrack.store.ledger_schema import CALLS_COLUMNS, INDEXES
from aispendtrack.store.migrate import Migration, of_statements
from aispendtrack.store.reads import daily

_SQL_TYPES = {int: "INTEGER", str: "TEXT", float: "REAL"}
DAILY_COUNTS = ("calls", "forwarded", "errors", "rejected", "rate_limited", "quota_exceeded", "budget_exceeded",
                "forbidden", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
                "reasoning_tokens", "priced_calls", "unpriced_calls", "unmetered_calls")

TABLES = (
    """CREATE TABLE IF NOT EXISTS accounts (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, tier TEXT NOT NULL,
        created TEXT NOT NULL, requests_per_hour INTEGER, monthly_calls INTEGER)""",
    """CREATE TABLE IF NOT EXISTS keys (
        id TEXT PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id),
        name TEXT, created TEXT NOT NULL, last_used TEXT, revoked TEXT, expires TEXT)""",
    """CREATE TABLE IF NOT EXISTS key_secrets (
        digest TEXT PRIMARY KEY, key_id TEXT NOT NULL REFERENCES keys(id),
        hint TEXT NOT NULL, created TEXT NOT NULL, retired TEXT)""",
    "CREATE INDEX IF NOT EXISTS key_secrets_key_id ON key_secrets(key_id)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE IF NOT EXISTS members (
        id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL, role TEXT NOT NULL, created TEXT NOT NULL, removed TEXT)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS members_name ON members (account_id, name) WHERE removed IS NULL",
    """CREATE TABLE IF NOT EXISTS webhook_endpoints (
        id TEXT PRIMARY KEY, account TEXT NOT NULL, url TEXT NOT NULL, events TEXT,
        secret TEXT NOT NULL, created TEXT NOT NULL, disabled TEXT, disabled_reason TEXT)""",
    "CREATE INDEX IF NOT EXISTS webhook_endpoints_account ON webhook_endpoints (account)",
    """CREATE TABLE IF NOT EXISTS webhook_messages (
        id TEXT PRIMARY KEY, endpoint_id TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,
        created TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL, lease_until REAL, lease_owner TEXT)""",
    "CREATE INDEX IF NOT EXISTS webhook_messages_due ON webhook_messages (state, next_at)",
    """CREATE TABLE IF NOT EXISTS webhook_attempts (
        id INTEGER PRIMARY KEY, message_id TEXT NOT NULL, endpoint_id TEXT NOT NULL, ts TEXT NOT NULL,
        status INTEGER, error TEXT, duration_ms INTEGER)""",
    "CREATE INDEX IF NOT EXISTS webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id)",
    """CREATE TABLE IF NOT EXISTS webhook_alerts (
        scope TEXT NOT NULL, kind TEXT NOT NULL, period TEXT NOT NULL, ts REAL NOT NULL,
        PRIMARY KEY (scope, kind, period)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS rate_events (
        key_id TEXT NOT NULL, seq INTEGER NOT NULL, ts REAL NOT NULL, PRIMARY KEY (key_id, seq)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS rate_events_key_ts ON rate_events (key_id, ts)",
    # account: no type affinity, stored as given ("007" never becomes 7)
    """CREATE TABLE IF NOT EXISTS monthly_usage (
        account NOT NULL, month TEXT NOT NULL, calls INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (account, month)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS budgets (
        scope TEXT NOT NULL, subject NOT NULL, limit_nano INTEGER NOT NULL, period TEXT NOT NULL,
        since REAL NOT NULL, PRIMARY KEY (scope, subject)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS budget_spend (
        scope TEXT NOT NULL, subject NOT NULL, period_key TEXT NOT NULL,
        spent_nano INTEGER NOT NULL DEFAULT 0, reserved_nano INTEGER NOT NULL DEFAULT 0,
        overshoot_nano INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (scope, subject, period_key)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS budget_reservations (
        id TEXT PRIMARY KEY, created REAL NOT NULL, amount_nano INTEGER NOT NULL, key_id TEXT, key_period TEXT,
        account TEXT, account_period TEXT, expired INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS budget_reservations_created ON budget_reservations (expired, created)",
    """CREATE TABLE IF NOT EXISTS proxies (
        id TEXT PRIMARY KEY, pid INTEGER, host TEXT, started REAL, heartbeat REAL, inflight INTEGER)""",
    # Daily sums of the ledger per (account, day, key and model): the dashboard's reads.
    f"""CREATE TABLE IF NOT EXISTS calls_daily (account TEXT NOT NULL, day TEXT NOT NULL, grp TEXT NOT NULL,
        key_id TEXT, model TEXT, {", ".join(f"{c} INTEGER" for c in DAILY_COUNTS)}, cost_usd TEXT NOT NULL,
        PRIMARY KEY (account, day, grp)) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS calls_daily_mark (one INTEGER PRIMARY KEY CHECK (one = 0), upto INTEGER)",
    """CREATE TABLE IF NOT EXISTS dashboard_sessions (digest TEXT PRIMARY KEY, key_digest TEXT NOT NULL,
        created TEXT NOT NULL, expires TEXT NOT NULL)""",
)

# Columns added by releases after their table was first made: (table, column, type).
ADDED = (
    ("keys", "permissions", "TEXT"), ("keys", "models", "TEXT"), ("keys", "member_id", "INTEGER"),
    ("webhook_endpoints", "paused", "TEXT"), ("webhook_endpoints", "previous_secret", "TEXT"),
    ("webhook_endpoints", "previous_secret_until", "TEXT"),
    ("budget_reservations", "key_limit", "INTEGER"), ("budget_reservations", "account_limit", "INTEGER"),
)


def _columns(conn: Conn, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})").fetchall()}


def _calls(conn: Conn) -> None:
    columns = ", ".join(f"[{name}] {_SQL_TYPES[t]}" + (" PRIMARY KEY" if name == "id" else "")
                        + (" NOT NULL" if name in ("ts", "outcome") else "") for name, t in CALLS_COLUMNS.items())
    conn.execute(f"CREATE TABLE IF NOT EXISTS calls ({columns})")
    have = _columns(conn, "calls")
    for name in CALLS_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE calls ADD COLUMN [{name}] TEXT")
    for cols in INDEXES:
        conn.execute(f"CREATE INDEX IF NOT EXISTS idx_calls_{'_'.join(cols)} ON calls ({', '.join(cols)})")


def v1(conn: Conn) -> None:
    have = _columns(conn, "calls_daily")
    if have and not have.issuperset(DAILY_COUNTS):  # sums made before a count existed: made again
        conn.execute("DROP TABLE calls_daily")
        conn.execute("DROP TABLE IF EXISTS calls_daily_mark")
    for sql in TABLES:
        conn.execute(sql)
    if "account_id" in _columns(conn, "monthly_usage"):  # it always held names
        conn.execute("ALTER TABLE monthly_usage RENAME COLUMN account_id TO account")
    for table, column, type_ in ADDED:
        if column not in _columns(conn, table):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {type_}")
    _calls(conn)
    # Accounts and keys from before members: the owner holds them.
    conn.execute("""INSERT INTO members (account_id, name, role, created)
                    SELECT a.id, 'owner', 'owner', a.created FROM accounts a
                    WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.account_id = a.id)""")
    conn.execute("""UPDATE keys SET member_id = (SELECT m.id FROM members m WHERE m.account_id = keys.account_id
                                                 AND m.role = 'owner' ORDER BY m.id LIMIT 1)
                    WHERE member_id IS NULL""")


def v2(conn: Conn) -> None:
    """The ledger writer keeps the daily sums in the transaction of each batch
    (`reads.daily.add_rows`): made once more from the whole ledger; the row-id mark of the
    sums folded in later by readers goes."""
    conn.execute("DROP TABLE IF EXISTS calls_daily_mark")
    v3(conn)  # the rebuild writes every count and column the sums have in this release
    _daily_provider(conn)
    daily.rebuild(conn)


def v3(conn: Conn) -> None:
    """The daily sums count local calls (`[providers.local]`). No ledger row was local before
    this count existed, so 0 is exact for the sums already made."""
    if conn.dialect.name == "postgres":
        conn.execute("ALTER TABLE calls_daily ADD COLUMN IF NOT EXISTS local_calls bigint NOT NULL DEFAULT 0")
    elif "local_calls" not in _columns(conn, "calls_daily"):
        conn.execute("ALTER TABLE calls_daily ADD COLUMN local_calls INTEGER NOT NULL DEFAULT 0")


def v4(conn: Conn) -> None:
    """The calls' tags (a JSON object), for splitting spend by feature, customer, env."""
    if "tags" not in _columns(conn, "calls"):
        conn.execute("ALTER TABLE calls ADD COLUMN tags TEXT")


def _daily_provider(conn: Conn) -> None:
    if conn.dialect.name == "postgres":
        conn.execute('ALTER TABLE calls_daily ADD COLUMN IF NOT EXISTS provider text COLLATE "C"')
    elif "provider" not in _columns(conn, "calls_daily"):
        conn.execute("ALTER TABLE calls_daily ADD COLUMN provider TEXT")


def v5(conn: Conn) -> None:
    """The daily sums keep the provider (a report by provider read every row of its period):
    made again from the ledger, each group now also by provider."""
    _daily_provider(conn)
    daily.rebuild(conn)


# The provider-key vault (issue 24): sealed credentials, an account's or one key's
# (`key_id` '' for the account's), and each account's policy. No secret is stored in clear.
V6 = (
    """CREATE TABLE IF NOT EXISTS provider_credentials (
        account_id INTEGER NOT NULL REFERENCES accounts(id), provider TEXT NOT NULL, key_id TEXT NOT NULL,
        master_key_id TEXT NOT NULL, sealed TEXT NOT NULL, hint TEXT NOT NULL, set_by TEXT NOT NULL,
        set_at TEXT NOT NULL, PRIMARY KEY (account_id, provider, key_id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS vault_modes (
        account_id INTEGER PRIMARY KEY REFERENCES accounts(id), mode TEXT NOT NULL)""",
)

# Reconciliation runs (issue 26): each saved report with its rows, the accounts it concerns
# with each one's share (what each sees on the dashboard and is sent by `reconcile.drift`),
# and the scheduler's claims of a provider's day (one run per provider and day across every
# `serve`). Money is exact decimal text.
SIDE = ("input_tokens", "cached_tokens", "output_tokens", "batch_tokens", "requests")
V7 = (
    """CREATE TABLE IF NOT EXISTS reconcile_runs (
        id INTEGER PRIMARY KEY, provider TEXT NOT NULL, since TEXT NOT NULL, until TEXT NOT NULL, account TEXT,
        ran_at TEXT NOT NULL, status TEXT NOT NULL, matched_pct REAL, unexplained_usd TEXT, tolerance_usd TEXT,
        error TEXT, notes TEXT NOT NULL DEFAULT '[]')""",
    """CREATE TABLE IF NOT EXISTS reconcile_run_accounts (
        account TEXT NOT NULL, run_id INTEGER NOT NULL REFERENCES reconcile_runs(id), matched_pct REAL,
        unexplained_usd TEXT, off_rows INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, run_id)) WITHOUT ROWID""",
    f"""CREATE TABLE IF NOT EXISTS reconcile_rows (
        run_id INTEGER NOT NULL REFERENCES reconcile_runs(id), seq INTEGER NOT NULL, attributed INTEGER NOT NULL,
        day TEXT NOT NULL, model TEXT NOT NULL, verdict TEXT NOT NULL, note TEXT NOT NULL, account TEXT,
        scope TEXT NOT NULL,
        {", ".join(f"{side}_{c} INTEGER NOT NULL" for side in ("gw", "pv") for c in SIDE)},
        gw_usd TEXT NOT NULL, pv_usd TEXT NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS reconcile_days (
        provider TEXT NOT NULL, day TEXT NOT NULL, claimed TEXT NOT NULL, PRIMARY KEY (provider, day)) WITHOUT ROWID""",
)


# Batch results are counted once per (batch, model), whichever gateway sees them first: the
# store refuses a second row (`ledger_rows` inserts them with ON CONFLICT DO NOTHING).
BATCH_INDEX = ("CREATE UNIQUE INDEX IF NOT EXISTS calls_batch_once ON calls (batch_key, coalesce(model, ''))"
               " WHERE batch_key IS NOT NULL")


def v10(conn: Conn) -> None:
    """Batch results: the batch a row sums and its request count; counted once per batch and model."""
    if conn.dialect.name == "postgres":
        conn.execute('ALTER TABLE calls ADD COLUMN IF NOT EXISTS batch_key text COLLATE "C"')
        conn.execute("ALTER TABLE calls ADD COLUMN IF NOT EXISTS batch_requests bigint")
    else:
        have = _columns(conn, "calls")
        for name, type_ in (("batch_key", "TEXT"), ("batch_requests", "INTEGER")):
            if name not in have:
                conn.execute(f"ALTER TABLE calls ADD COLUMN {name} {type_}")
    conn.execute(BATCH_INDEX)


MIGRATIONS = (
    Migration(1, "tables of the releases before schema versions", v1),
    Migration(2, "daily sums kept by the ledger writer", v2),
    Migration(3, "daily sums count local calls", v3),
    Migration(4, "tags on ledger rows", v4),
    Migration(5, "daily sums by provider too", v5),
    of_statements(6, "provider-key vault", V6),
    of_statements(7, "reconciliation runs", V7),
    # a key's default tags (JSON object), merged into each call's tags by the proxy
    of_statements(8, "default tags of keys", ("ALTER TABLE keys ADD COLUMN tags TEXT",)),
    Migration(10, "batch results counted once", v10),
)
