"""The fail-closed units alone: `DbFile`, the operator's advice, `Health`'s log lines."""

import logging
import os

import pytest

from aispendtrack.store.db import DatabaseLost
from aispendtrack.store.health import DbFile, Health, advice

FULL = "free disk space"
WRITABLE = "make the database file and its folder writable"
RESTORE = "restore the database file (or create it again with the aispendtrack CLI)"
CHECK = "check the database file and the disk"


@pytest.mark.parametrize("problem, text", [
    ("database or disk is full", FULL),
    ("Disk FULL", FULL),
    ("attempt to write a readonly database", WRITABLE),
    ("read-only file system", WRITABLE),
    ("Permission denied", WRITABLE),
    ("database file a.db is gone (deleted or moved)", RESTORE),
    ("[Errno 2] No such file or directory: 'a.db'", RESTORE),
    ("unable to open database file", RESTORE),
    ("disk I/O error", CHECK),
    ("", CHECK),
])
def test_advice_per_kind_of_problem(problem, text):
    assert advice(problem) == text


def test_health_logs_entering_and_leaving_fail_closed_exactly_once_each(caplog):
    caplog.set_level(logging.WARNING)
    h = Health("x.db")
    h.report("ledger", "database or disk is full")
    h.report("ledger", "database or disk is full")  # the same again: nothing new
    h.report("keystore", "unable to open database file")  # already failing: no second line
    h.report("ledger", None)  # the keystore still fails: still closed
    assert h.problem == "unable to open database file"
    h.report("keystore", None)
    h.report("keystore", None)
    assert h.problem is None
    assert caplog.messages == [
        "AiSpendTrack: cannot keep the ledger (database or disk is full): provider calls are answered 503 "
        "until it can; free disk space, the proxy resumes by itself",
        "AiSpendTrack: ledger x.db is writable again: provider calls are forwarded",
    ]


def test_health_without_a_path(caplog):
    caplog.set_level(logging.WARNING)
    h = Health()
    assert h.db_path == "" and h.problem is None
    h.report("ledger", "disk I/O error")
    h.report("ledger", None)
    assert caplog.messages[-1] == "AiSpendTrack: ledger  is writable again: provider calls are forwarded"


def test_health_lost_lasts_until_restart_and_says_nothing_of_resuming(caplog):
    caplog.set_level(logging.WARNING)
    h = Health("x.db")
    h.report("ledger", "database or disk is full")
    h.lose("database file x.db was replaced")
    h.report("ledger", None)  # a commit that worked on the old file changes nothing
    h.report("keystore", "unable to open database file")
    h.lose("something else")  # the first loss stays the reason
    assert h.problem == "database file x.db was replaced"
    assert caplog.messages == [
        "AiSpendTrack: cannot keep the ledger (database or disk is full): provider calls are answered 503 "
        "until it can; free disk space, the proxy resumes by itself",
    ]


def replace_file(path, text):
    """Another file (another inode) at `path`, as `mv backup.db live.db` does."""
    path.with_suffix(".new").write_text(text)
    os.replace(path.with_suffix(".new"), path)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "a.db"


def test_dbfile_pins_its_first_file_and_is_lost_for_good_once_replaced(db, caplog):
    caplog.set_level(logging.WARNING)
    health = Health(db)
    f = DbFile(db, health)
    f.check()  # nothing pinned yet: nothing to check
    f.connect().conn.close()
    f.check()
    replace_file(db, "")  # an empty file is a valid empty database
    lost = (f"database file {db} was replaced by another file while this process ran; nothing is written to it "
            f"any more: restart the proxy and serve to use the file now at that path")
    with pytest.raises(DatabaseLost) as refused:
        f.check()
    assert str(refused.value) == lost and f.lost == lost and health.problem == lost
    with pytest.raises(DatabaseLost):
        f.connect()  # never the file now at the path
    assert db.read_bytes() == b""  # not even opened: still empty
    assert caplog.messages == [f"AiSpendTrack: {lost} (to restore a backup: stop, copy, start)"]


def test_dbfile_removed_then_created_anew_is_still_lost(db):
    f = DbFile(db)
    f.connect().conn.close()  # no connection of the caller's is left open
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{db}{suffix}"):
            os.remove(f"{db}{suffix}")
    f2 = DbFile(db)
    f2.connect().conn.close()  # created anew at the path (`aispendtrack accounts create`)
    with pytest.raises(DatabaseLost, match="removed|replaced"):  # its inode cannot be the pinned one's
        f.check()
    f2.close()


def test_dbfile_removed(db):
    f = DbFile(db)
    f.connect().conn.close()
    db.unlink()
    with pytest.raises(DatabaseLost, match=r"was removed \(deleted or moved away\) while this process ran"):
        f.connect()
    assert not db.exists()  # never created in its place
