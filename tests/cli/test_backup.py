"""`aispendtrack backup PATH`: SQLite's online backup, through the CLI, on real files."""

import os
import sqlite3
import stat

import pytest

from aispendtrack.store import db as dbmod
from aispendtrack.store import backup as store
from aispendtrack.store import open_store
from aispendtrack.store.writer import StoreWriter

from support.ledger_rows import make_row


def rows(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def live(run):
    """The CLI's database with an account, a key (its plaintext returned) and two ledger rows,
    the last one still in the WAL (never checkpointed): the copy must hold it too."""
    run("accounts", "create", "acme", "--tier", "pro")
    key = run("keys", "create", "acme", "--json").output
    opened = open_store(run.db)
    w = StoreWriter(opened)
    w.start()
    w.write_sync(make_row(flow_id="one"))
    hold = dbmod.connect(run.db)  # an open reader keeps the WAL from being folded in at close
    w.write_sync(make_row(flow_id="two"))
    w.close()
    opened.close()
    yield run, key.split('"key": "')[1].split('"')[0]
    hold.conn.close()


def test_backup_is_a_complete_self_contained_private_copy(live, tmp_path):
    run, key = live
    assert os.path.getsize(f"{run.db}-wal") > 0
    dest = tmp_path / "copy.db"
    result = run("backup", str(dest))
    assert result.output.startswith(f"Backed up {run.db} to {dest} (") and "UTC." in result.output
    assert rows(dest, "PRAGMA integrity_check") == [("ok",)]
    assert rows(dest, "SELECT flow_id FROM calls ORDER BY id") == [("one",), ("two",)]
    assert rows(dest, "SELECT name FROM accounts") == [("acme",)]
    assert rows(dest, "PRAGMA journal_mode") == [("delete",)]  # one file: no -wal to carry along
    assert not os.path.exists(f"{dest}-wal")
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600  # it holds what the database holds
    assert key.encode() not in dest.read_bytes() and key not in result.output  # digests only
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".copy.db")] == []  # no temporary left


def test_backup_never_overwrites_unless_forced(live, tmp_path):
    run, _ = live
    dest = tmp_path / "copy.db"
    dest.write_bytes(b"precious")
    refused = run("backup", str(dest), ok=False)
    assert f"{dest} exists; pass --force to overwrite it" in refused.output
    assert dest.read_bytes() == b"precious"
    run("backup", str(dest), "--force")
    assert rows(dest, "SELECT count(*) FROM calls") == [(2,)]


@pytest.mark.parametrize("where, message", [
    ("itself", "is the database itself; name another file"),
    ("folder", "is a folder; name the backup file"),
    ("no folder", "does not exist"),
    ("wal left", "copy.db-wal exists: "),
])
def test_backup_refuses_a_destination_it_must_not_write(live, tmp_path, where, message):
    run, _ = live
    dest = {"itself": run.db, "folder": tmp_path, "no folder": tmp_path / "nope" / "copy.db",
            "wal left": tmp_path / "copy.db"}[where]
    if where == "wal left":
        (tmp_path / "copy.db-wal").write_bytes(b"x")
    before = rows(run.db, "SELECT count(*) FROM calls")
    refused = run("backup", str(dest), "--force", ok=False)
    assert message in refused.output
    assert rows(run.db, "SELECT count(*) FROM calls") == before
    assert not (tmp_path / "copy.db").exists()


def test_backup_of_a_missing_database_creates_nothing(tmp_path):
    with pytest.raises(store.BackupError, match="not found"):
        store.backup(tmp_path / "none.db", tmp_path / "copy.db")
    assert list(tmp_path.iterdir()) == []


def test_backup_of_a_postgresql_store_points_to_pg_dump_and_writes_nothing(tmp_path):
    """A PostgreSQL store is not a file to copy: the command says to use pg_dump, shows the
    URL without its password, and neither connects nor writes anything."""
    from click.testing import CliRunner

    from aispendtrack.cli.main import cli

    url = "postgresql://spend:s3cret-pw@db.invalid:5432/aispendtrack"
    dest = tmp_path / "copy.db"
    result = CliRunner().invoke(cli, ["--db", url, "backup", str(dest)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "postgresql://spend:***@db.invalid:5432/aispendtrack is a PostgreSQL database" in result.output
    assert "pg_dump" in result.output and "s3cret-pw" not in result.output
    assert list(tmp_path.iterdir()) == []
