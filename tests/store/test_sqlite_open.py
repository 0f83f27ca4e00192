"""Opening a SQLite store while another process is writing to the new file: the switch to
WAL waits (within the busy timeout) instead of failing at once with 'database is locked'
(processes started together on a fresh file — gateway, serve, CLI — raced for it)."""

import sqlite3
import threading
import time

from aispendtrack.store import open_store


def test_the_switch_to_wal_waits_for_a_writer_of_the_new_file(tmp_path):
    path = tmp_path / "new.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE first (x)")  # a new file, still in rollback-journal mode
    writer.execute("BEGIN IMMEDIATE")  # SQLite refuses the WAL switch at once, busy handler or not
    threading.Timer(0.3, lambda: writer.execute("COMMIT")).start()
    started = time.monotonic()
    with open_store(path) as store:
        assert store.schema_versions()[0] == store.migrations[-1].version
    assert time.monotonic() - started >= 0.25
    writer.close()
