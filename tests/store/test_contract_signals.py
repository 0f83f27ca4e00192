"""Change signals across processes, the same on SQLite (a mapped file) and PostgreSQL
(LISTEN/NOTIFY): a change committed through one store is seen by another store's
`changes()` (at once on SQLite; within moments on PostgreSQL, whose callers also compare
`versions()` before deciding), a refused change signals nothing, `forget` asks again."""

import time

import pytest

from aispendtrack.config import Config
from aispendtrack.store import open_store
from aispendtrack.store.records import KeyStoreError

CONFIG = Config()


def seen(changes, wanted: str, timeout: float = 10.0) -> set[str]:
    """Signals seen until `wanted` is among them (or the timeout)."""
    got: set[str] = set()
    deadline = time.monotonic() + timeout
    while wanted not in got and time.monotonic() < deadline:
        got |= changes.changed()
        time.sleep(0.01)
    return got


@pytest.fixture
def other(store, store_target):
    """A second store on the same database: another gateway, CLI or serve."""
    with open_store(store_target) as opened:
        yield opened


def test_a_change_through_one_store_is_signalled_to_another(store, other):
    changes = store.changes()
    try:
        changes.changed()
        other.create_account("acme", "pro")
        assert "keys" in seen(changes, "keys")
        other.set_budget("account", "acme", "1", "day", now=time.time())
        assert "budgets" in seen(changes, "budgets")
        other.add_endpoint("acme", "https://hooks.example/a", None)
        assert "webhooks" in seen(changes, "webhooks")
        with pytest.raises(KeyStoreError):
            other.create_account("acme")
        other.clear_budget("account", "acme")  # committed after the refusal: its signal comes later
        assert seen(changes, "budgets") == {"budgets"}
        changes.forget("keys")
        assert changes.changed() == {"keys"}
        assert changes.changed() == frozenset()
    finally:
        changes.close()


def test_versions_move_before_the_command_returns(store, other):
    before = store.versions()
    key = other.create_account("acme", "pro") and other.create_key("acme", CONFIG)
    assert int(store.versions()["keys_version"]) == int(before.get("keys_version", 0)) + 2  # no waiting
    other.revoke_key(key.id)
    assert int(store.versions()["keys_version"]) == int(before.get("keys_version", 0)) + 3
    assert store.get_key(key.id).revoked is not None
