"""A long-lived SQLite store (serve, the CLI, the demo) and its file: a deleted file is never
written into nor recreated, a file put back at the path is followed, a retired thread's
connection is not kept open."""

import gc
import os
import threading

import pytest

from aispendtrack.config import Config
from aispendtrack.store.records import StoreGone, StoreUnavailable


def in_thread(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_a_deleted_file_is_refused_in_every_thread_and_never_recreated(store, db_path):
    store.create_account("acme", "pro")
    os.remove(db_path)
    for call in (store.list_accounts, lambda: in_thread(store.list_accounts),
                 lambda: store.create_account("beta")):
        with pytest.raises(StoreGone, match="is gone") as gone:
            call()
        assert isinstance(gone.value, StoreUnavailable)
    assert not db_path.exists()


def test_a_file_put_back_is_followed_and_a_new_one_gets_the_schema(store, db_path, tmp_path):
    store.create_account("acme", "pro")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{db_path}{suffix}"):
            os.rename(f"{db_path}{suffix}", f"{tmp_path / 'moved.db'}{suffix}")
    with pytest.raises(StoreGone):
        store.list_accounts()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{tmp_path / 'moved.db'}{suffix}"):
            os.rename(f"{tmp_path / 'moved.db'}{suffix}", f"{db_path}{suffix}")
    assert [a.name for a in store.list_accounts()] == ["acme"]
    os.remove(db_path)
    db_path.touch()  # another, empty file at the path: its tables are made before it is used
    assert store.list_accounts() == []
    store.create_account("beta", "pro")
    assert store.create_key("beta", Config()).account == "beta"


def test_the_connection_of_a_finished_thread_is_not_kept(store):
    before = len(store._open)
    for _ in range(5):
        in_thread(store.list_accounts)
    gc.collect()
    assert len(store._open) == before
