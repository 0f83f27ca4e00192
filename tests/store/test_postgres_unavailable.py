"""PostgreSQL that cannot take writes (a standby, or a database set read-only) is the
store being unavailable — a 503 and rows kept — never an unexpected error."""

import time

import psycopg
import pytest

from aispendtrack.config import Config
from aispendtrack.store import open_store
from aispendtrack.store.api.traffic import Admission
from aispendtrack.store.health import advice
from aispendtrack.store.records import StoreUnavailable
from aispendtrack.store.writer import LedgerUnavailable, StoreWriter

from support.ledger_rows import make_row


def set_read_only(dsn: str, on: bool) -> None:
    base, name = dsn.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:  # not from inside the read-only one
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')


def test_a_read_only_database_is_unavailable_and_rows_wait_for_it(pg_dsn):
    with open_store(pg_dsn) as store:
        store.create_account("acme", "pro")
        key = store.create_key("acme", Config())
    set_read_only(pg_dsn, True)
    store = open_store(pg_dsn, migrate_schema=False)  # new sessions: read-only
    writer = StoreWriter(store, retries=0)
    writer.start()
    try:
        with pytest.raises(StoreUnavailable, match="read-only"):
            store.create_account("beta", "pro")
        with pytest.raises(StoreUnavailable, match="read-only"):
            writer.admit_sync(Admission(key.id, "acme", 10, None, 1_795_683_600.0))
        with pytest.raises(LedgerUnavailable, match="read-only"):
            writer.write_sync(make_row(flow_id="kept"))
        assert "read-only" in writer.health.problem
        assert "PostgreSQL server" in advice(writer.health.problem)
        set_read_only(pg_dsn, False)
        store.pool.check()  # the pool's sessions were opened read-only: new ones
        deadline = time.monotonic() + 10
        while writer.health.problem and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.health.problem is None
        with store.connection() as conn:
            assert conn.execute("SELECT flow_id FROM calls").fetchall() == [("kept",)]
    finally:
        writer.close()
        store.close()
