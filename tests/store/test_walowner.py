"""A database never gets another file's WAL: `connect()` and the `-walowner` record, with
real SQLite files, connections left open on a replaced file, and other processes."""

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from aispendtrack.store import db as dbmod
from aispendtrack.store import walowner
from aispendtrack.store.health import DbFile


def make_db(path, label: str) -> None:
    """A closed WAL-mode database whose one table says which file it is."""
    database = dbmod.connect(path)
    database.execute("CREATE TABLE t(label TEXT)")
    database.execute("INSERT INTO t VALUES (?)", [label])
    database.conn.close()


def labels(path) -> list[str]:
    """What a plain sqlite3 client (a shell, Datasette) sees in the file at `path`."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return [r[0] for r in conn.execute("SELECT label FROM t ORDER BY rowid")]
    finally:
        conn.close()


def holder(path, *, write: str | None = None, exit_without_closing: bool = False) -> subprocess.Popen:
    """Another process with `path` open (and a row written into its WAL); it says "ready"
    and holds on until its stdin closes, or leaves at once as a killed process would."""
    code = textwrap.dedent(f"""
        import os, sqlite3, sys
        conn = sqlite3.connect({str(path)!r}, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        if {write!r} is not None:
            conn.execute("INSERT INTO t VALUES (?)", [{write!r}])
        print("ready", flush=True)
        if {exit_without_closing!r}:
            os._exit(0)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    return proc


def release(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    proc.wait(10)


def test_a_replaced_file_never_gets_the_old_files_wal(tmp_path, caplog):
    live, other = tmp_path / "live.db", tmp_path / "other.db"
    make_db(live, "old")
    make_db(other, "new")
    old = dbmod.connect(live)  # still open on the old file when it is replaced
    old.execute("INSERT INTO t VALUES ('old, before the swap')")
    os.replace(other, live)  # `mv other.db live.db`
    old.execute("INSERT INTO t VALUES ('old, after the swap')")  # into <live>-wal, by name
    assert os.path.getsize(f"{live}-wal") > 0
    new = dbmod.connect(live)  # removes the old file's WAL first (no other process has it)
    assert [r[0] for r in new.execute("SELECT label FROM t")] == ["new"]
    new.execute("INSERT INTO t VALUES ('new, written')")
    old.execute("INSERT INTO t VALUES ('old, later')")  # its own unlinked WAL: never the new file's
    old.conn.close()
    new.conn.close()
    assert labels(live) == ["new", "new, written"]
    assert "belonged to the file that was at" in caplog.text


def test_the_old_files_wal_still_open_in_another_process_is_refused_until_it_lets_go(tmp_path):
    live, other = tmp_path / "live.db", tmp_path / "other.db"
    make_db(live, "old")
    make_db(other, "new")
    dbmod.connect(live).conn.close()  # recorded as the owner of the WAL next to it
    proc = holder(live, write="old, from the other process")
    try:
        os.replace(other, live)
        with pytest.raises(dbmod.DatabaseError) as refused:
            dbmod.connect(live)
        assert f"{live}-wal belongs to the file that was at this path before" in str(refused.value)
        assert "stop every process that uses" in str(refused.value)
    finally:
        release(proc)
    # SQLite leaves the WAL of a moved file behind when its last connection closes
    assert os.path.exists(f"{live}-wal")
    dbmod.connect(live).conn.close()
    assert labels(live) == ["new"]


def test_a_killed_process_leaves_the_old_files_wal_it_is_removed_not_applied(tmp_path):
    live, other = tmp_path / "live.db", tmp_path / "other.db"
    make_db(live, "old")
    make_db(other, "new")
    holder(live, write="old, never checkpointed", exit_without_closing=True).wait(10)
    os.replace(other, live)
    dbmod.connect(live).conn.close()
    assert labels(live) == ["new"]


@pytest.mark.parametrize("record", ["kept", "none"])
def test_a_crash_on_the_same_file_keeps_its_committed_rows(tmp_path, record):
    """The WAL of the file that is still at the path is its own: recovered, never removed
    (also for a database from before the record existed)."""
    live = tmp_path / "live.db"
    make_db(live, "first")
    if record == "none":
        walowner.owner_path(live).unlink()
    holder(live, write="committed, then killed", exit_without_closing=True).wait(10)
    assert os.path.getsize(f"{live}-wal") > 0
    database = dbmod.connect(live)
    assert [r[0] for r in database.execute("SELECT label FROM t")] == ["first", "committed, then killed"]
    database.conn.close()
    assert walowner.read_owner(live) == walowner.file_id(live)


def test_a_lost_file_takes_its_wal_away_from_the_path_for_plain_sqlite_clients(tmp_path):
    live, other = tmp_path / "live.db", tmp_path / "other.db"
    make_db(live, "old")
    make_db(other, "new")
    dbfile = DbFile(live)
    conn = dbfile.connect()
    conn.execute("INSERT INTO t VALUES ('old, before')")
    os.replace(other, live)
    conn.execute("INSERT INTO t VALUES ('old, after')")
    with pytest.raises(dbmod.DatabaseLost):
        dbfile.check()  # lost: the old WAL is taken away from the path at once
    assert not os.path.exists(f"{live}-wal") and walowner.read_owner(live) is None
    assert labels(live) == ["new"]  # what `sqlite3 live.db` shows now
    conn.conn.close()
    assert labels(live) == ["new"]


def test_expect_never_opens_nor_creates_another_file(tmp_path):
    live = tmp_path / "live.db"
    make_db(live, "one")
    held = dbmod.connect(live)  # an open file's inode is never reused by a new one
    fid = held.file_id
    dbmod.connect(live, expect=fid).conn.close()
    live.unlink()
    with pytest.raises(dbmod.DatabaseLost, match="removed"):
        dbmod.connect(live, expect=fid)
    assert not live.exists()
    make_db(live, "two")
    with pytest.raises(dbmod.DatabaseLost, match="replaced"):
        dbmod.connect(live, expect=fid)
    held.conn.close()
