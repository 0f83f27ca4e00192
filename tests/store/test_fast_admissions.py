"""`PostgresStore(fast_admissions=True)`: the admission's transaction, and only it, commits
with `synchronous_commit = off`; ledger rows, and the same connection's next transaction,
stay durable. Seen from inside the server: a trigger notes the setting in force when each
window event and each ledger row is inserted. On SQLite the option has nothing to relax."""

import psycopg
import pytest

from aispendtrack.store import limits, open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.ledger_schema import to_db_row
from aispendtrack.store.postgres.store import PostgresStore
from aispendtrack.store.writer import Batch

T0 = 1_795_683_600.0  # 2026-11-26T09:00:00Z


def row(flow_id):
    return {"ts": T0, "flow_id": flow_id, "key_id": "key_a", "account": "acme", "provider": "openai",
            "outcome": "forwarded", "cost_usd": None, "pricing": "unmetered"}


def watched(dsn: str) -> str:
    """The store's tables, with a trigger noting `synchronous_commit` at each insert of a
    window event (an admission) or a ledger row."""
    open_store(dsn).close()
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE TABLE seen (n serial, what text, setting text)")
        c.execute("CREATE FUNCTION note_commit_mode() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                  "INSERT INTO seen (what, setting) VALUES (TG_TABLE_NAME, current_setting('synchronous_commit'));"
                  " RETURN NEW; END $$")
        for table in ("rate_events", "calls"):
            c.execute(f"CREATE TRIGGER note_{table} AFTER INSERT ON {table} FOR EACH ROW "
                      "EXECUTE FUNCTION note_commit_mode()")
    return dsn


def seen(dsn: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as c:
        return c.execute("SELECT what, setting FROM seen ORDER BY n").fetchall()


def settings_now(store) -> set[str]:
    """`synchronous_commit` on every connection of the store's pool, outside any transaction."""
    held = []
    try:
        for _ in range(store.pool.get_stats()["pool_size"]):
            held.append(store.pool.getconn())
        return {c.execute("SHOW synchronous_commit").fetchone()[0] for c in held}
    finally:
        for c in held:
            store.pool.putconn(c)


def traffic(store) -> None:
    """What the proxy's writer commits: a batch of an admission and a ledger row, then an
    admission alone (the store's `admit`)."""
    result = store.write(Batch(admissions=[Admission("key_a", "acme", 100, None, T0)],
                               rows=[(to_db_row(row("f1")), None)]))
    assert result.error is None and result.decisions[0].admitted and result.ids[0] > 0
    assert store.admit(Admission("key_a", "acme", 100, None, T0 + 1)).admitted


def test_fast_admissions_relax_the_admission_transaction_only(pg_dsn):
    dsn = watched(pg_dsn)
    with PostgresStore(dsn, fast_admissions=True) as store:
        assert settings_now(store) == {"on"}
        traffic(store)
        assert settings_now(store) == {"on"}  # SET LOCAL: gone with the admission's transaction
        assert store.usage(key_id="key_a", account="acme", now=T0 + 2).hourly_count == 2
    assert seen(dsn) == [("rate_events", "off"), ("calls", "on"), ("rate_events", "off")]


def test_admissions_are_durable_by_default(pg_dsn):
    dsn = watched(pg_dsn)
    with open_store(dsn) as store:
        assert store.fast_admissions is False
        traffic(store)
    assert seen(dsn) == [("rate_events", "on"), ("calls", "on"), ("rate_events", "on")]


def test_a_refused_fast_admission_relaxes_nothing_after_it(pg_dsn):
    dsn = watched(pg_dsn)
    with PostgresStore(dsn, fast_admissions=True) as store:
        assert store.admit(Admission("key_a", "acme", 1, None, T0)).admitted
        assert not store.admit(Admission("key_a", "acme", 1, None, T0 + 1)).admitted
        store.record([row("f2")])
        assert settings_now(store) == {"on"}
    assert seen(dsn) == [("rate_events", "off"), ("calls", "on")]


@pytest.mark.parametrize("durable", [True, False])
def test_sqlite_has_no_commit_to_relax(tmp_path, durable):
    with open_store(tmp_path / "store.db") as store, store.connection() as conn:
        assert conn.dialect.relaxed_commit is None
        assert limits.admit(conn, Admission("key_a", "acme", 1, None, T0), durable=durable).admitted
        assert not limits.admit(conn, Admission("key_a", "acme", 1, None, T0 + 1), durable=durable).admitted
