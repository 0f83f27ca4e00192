"""Schema versions on both engines: numbered migrations applied once at start, even by
several processes starting together, and a database migrated by a newer AiSpendTrack
refused with the documented error before anything is written."""

import pytest

from aispendtrack.store import open_store
from aispendtrack.store.migrate import SchemaTooNew

from support import racers


def test_an_empty_database_is_migrated_once_by_processes_starting_together(empty_target):
    results = racers.race(empty_target, racers.open_store_at, (empty_target,), processes=3, threads=2)
    with open_store(empty_target) as store:
        latest = store.schema_versions()[1]
        assert results == [latest] * 6 and latest >= 1
        with store.connection() as conn:
            assert conn.rows("SELECT version FROM schema_version ORDER BY version") == [
                {"version": m.version} for m in store.migrations]


def test_a_database_never_migrated_reads_as_version_0_and_stays_untouched(empty_target, engine):
    with open_store(empty_target, migrate_schema=False) as store:
        assert store.schema_versions() == (0, store.migrations[-1].version)
        tables = {"sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
                  "postgres": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"}[engine]
        with store.connection() as conn:
            assert conn.rows(tables) == []  # reading the version created nothing


def test_a_database_migrated_by_a_newer_version_is_refused(store_target):
    with open_store(store_target) as store:
        latest = store.schema_versions()[1]
        with store.connection() as conn:
            conn.execute("INSERT INTO schema_version (version, name, applied) VALUES (?, ?, ?)",
                         [999, "from the future", "2030-01-01T00:00:00.000000Z"])
        assert store.schema_versions() == (999, latest)
    with pytest.raises(SchemaTooNew) as refused:
        open_store(store_target)
    assert str(refused.value) == (
        f"the database's schema is version 999, newer than this AiSpendTrack knows ({latest}): "
        "upgrade AiSpendTrack on this machine (every gateway on one database runs the same version)")
    with open_store(store_target, migrate_schema=False) as store, store.connection() as conn:
        assert conn.rows("SELECT MAX(version) AS v FROM schema_version") == [{"v": 999}]
