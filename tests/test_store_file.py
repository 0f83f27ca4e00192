"""A long-lived SQLite store (the proxy, serve, the CLI, the demo) and its file: a deleted or
replaced file is never written into, recreated nor followed (store/health.py says why), a
retired thread's connection is not kept open."""

import gc
import os
import threading

import pytest

from aispendtrack.config import Config
from aispendtrack.store import open_store
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
        with pytest.raises(StoreGone, match="removed") as gone:
            call()
        assert isinstance(gone.value, StoreUnavailable)
    assert not db_path.exists()


@pytest.mark.parametrize("how", ["moved back", "created anew"])
def test_a_file_at_the_path_again_is_never_used_until_a_new_store_opens_it(store, db_path, tmp_path, how):
    store.create_account("acme", "pro")
    in_thread(store.list_accounts)  # another thread holds a connection too
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{db_path}{suffix}"):
            os.rename(f"{db_path}{suffix}", f"{tmp_path / 'moved.db'}{suffix}")
    with pytest.raises(StoreGone):
        store.list_accounts()
    if how == "moved back":
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{tmp_path / 'moved.db'}{suffix}"):
                os.rename(f"{tmp_path / 'moved.db'}{suffix}", f"{db_path}{suffix}")
    else:
        db_path.touch()  # another, empty file at the path
    for call in (store.list_accounts, lambda: in_thread(store.list_accounts), lambda: store.create_account("beta")):
        with pytest.raises(StoreGone, match="restart"):  # lost for this process, whatever is there now
            call()
    with open_store(db_path) as restarted:  # a new process: the file at the path, its schema made first
        assert [a.name for a in restarted.list_accounts()] == (["acme"] if how == "moved back" else [])
        restarted.create_account("beta", "pro")
        assert restarted.create_key("beta", Config()).account == "beta"


def test_the_connection_of_a_finished_thread_is_not_kept(store):
    before = len(store._open)
    for _ in range(5):
        in_thread(store.list_accounts)
    gc.collect()
    assert len(store._open) == before
