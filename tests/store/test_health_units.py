"""The fail-closed units alone: file pins, `Follower`, the operator's advice, `Health`'s log lines."""

import logging
import os

import pytest

from aispendtrack.store.health import DatabaseGone, Follower, Health, Pin, advice

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


def replace_file(path, text):
    """Another file (another inode) at `path`, as a restored backup would be."""
    path.with_suffix(".new").write_text(text)
    os.replace(path.with_suffix(".new"), path)


def test_pin_same_file_other_file_no_file(tmp_path):
    path = tmp_path / "a.db"
    path.write_text("one")
    pin = Pin(path)
    assert pin.same() is True
    path.write_text("one, rewritten in place")  # same inode: still the pinned file
    assert pin.same() is True
    replace_file(path, "two")
    assert pin.same() is False
    path.unlink()
    with pytest.raises(DatabaseGone) as refused:
        pin.same()
    assert str(refused.value) == f"database file {path} is gone (deleted or moved)"


def test_follower_opens_reopens_on_a_replaced_file_and_refuses_a_gone_one(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    path = tmp_path / "a.db"
    opened, closed = [], []

    def opener():
        path.touch()  # the first open may create the file
        opened.append(object())
        return opened[-1]

    f = Follower(path, opener, closed.append)
    f.close()  # nothing open: nothing to close
    assert closed == [] and caplog.messages == []
    first = f.get()
    assert f.get() is first and opened == [first] and closed == []
    replace_file(path, "restored")
    second = f.get()
    assert second is not first and opened == [first, second] and closed == [first]
    assert caplog.messages == [f"aispendtrack: database {path} was replaced by another file: reopening it"]
    path.unlink()
    with pytest.raises(DatabaseGone) as refused:
        f.get()
    assert str(refused.value) == f"database file {path} is gone (deleted or moved)"
    assert closed == [first]  # the pin raised before anything was closed
    f.close()
    assert closed == [first, second] and f.value is None
    with pytest.raises(DatabaseGone) as refused:  # closed and gone: never opened (nor created) again
        f.get()
    assert str(refused.value) == f"database file {path} is gone (deleted or moved)"
    assert opened == [first, second] and not path.exists()
