"""store.outbox and serve.delivery: events in the change's transaction, the retry schedule
on a test clock, 410 disabling, leases, and limit/quota/expiry events sent once."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from aispendtrack.serve.delivery import Deliverer
from aispendtrack.store import db as dbmod
from aispendtrack.store import outbox, webhook_endpoints
from aispendtrack.store.records import KeyStoreError


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class Receiver:
    """A fake `send`: answers `status` and keeps (time, headers, payload) of each attempt."""

    def __init__(self, clock, status: int | None = 200):
        self.clock, self.status, self.got = clock, status, []

    def __call__(self, url, headers, payload):
        self.got.append((self.clock(), headers, payload))
        return (self.status, None) if self.status else (None, "ConnectionRefusedError: refused")


def payloads(database, type_=None) -> list[dict]:
    """The queued events, oldest first (`database`: tests/store/conftest.py's `Peek`). Rows
    queued at one moment keep their order on SQLite (rowid); PostgreSQL has no rowid."""
    order = "created, " + ("rowid" if database.store.engine == "sqlite" else "id")
    return [json.loads(p) for t, p in database.execute(f"SELECT type, payload FROM webhook_messages ORDER BY {order}")
            if type_ is None or t == type_]


@pytest.fixture
def acme(store):
    store.create_account("acme", "pro")
    endpoint, secret = store.add_endpoint("acme", "http://127.0.0.1:9/hook", None)
    return endpoint.id, secret


def test_key_changes_queue_their_events(store, database, config, acme):
    new = store.create_key("acme", config, name="ci")
    store.rotate_key(new.id, config)
    store.revoke_key(new.id)
    got = payloads(database)
    assert [p["type"] for p in got] == ["key.created", "key.rotated", "key.revoked"]
    assert got[0]["data"] == {"account": "acme", "key_id": new.id, "name": "ci", "member": "owner",
                              "hint": new.hint, "expires": None}
    assert all(set(p) == {"type", "timestamp", "data"} for p in got)
    assert new.key not in json.dumps(got)


def test_events_only_for_subscribed_enabled_endpoints_of_the_account(store, database, config, acme):
    store.create_account("other", "pro")
    store.add_endpoint("acme", "https://example.com/x", ("key.revoked",))
    store.create_key("other", config)
    store.create_key("acme", config)
    assert database.execute("SELECT COUNT(*) FROM webhook_messages")[0][0] == 1


def test_a_failed_change_queues_nothing(store, database, config, acme):
    store.create_account("solo", "free")
    store.create_key("solo", config)
    store.add_endpoint("solo", "http://127.0.0.1:9/hook", None)
    with pytest.raises(KeyStoreError):
        store.create_key("solo", config)  # over the free tier's one key
    assert payloads(database, "key.created") == []


@pytest.mark.parametrize("url, allow, error", [
    ("http://127.0.0.1:8000/h", None, None),
    ("https://hooks.example.com/h", ["*.example.com"], None),
    ("https://evil.test/h", ["*.example.com"], "may point only to"),
    ("ftp://example.com/h", None, "http:// or https://"),
    ("javascript:alert(1)", None, "http:// or https://"),
    ("https://user:pw@example.com/h", None, "credentials"),
    ("https://example.com/\nx", None, "control characters"),
])
def test_check_url(url, allow, error):
    if error is None:
        assert webhook_endpoints.check_url(url, allow) == url
    else:
        with pytest.raises(webhook_endpoints.WebhookError, match=error):
            webhook_endpoints.check_url(url, allow)


def test_retry_schedule_on_a_test_clock_then_failed(store, database, config, acme):
    clock = Clock()
    receiver = Receiver(clock, status=500)
    worker = Deliverer(store, clock=clock, send=receiver)
    store.create_key("acme", config)
    database.execute("UPDATE webhook_messages SET next_at = ?", [clock.t])
    start = clock.t
    while (row := database.execute("SELECT state, next_at FROM webhook_messages")[0])[0] == "pending":
        clock.t = row[1] - 1  # a second early: nothing goes out
        sent = len(receiver.got)
        worker.run_once()
        assert len(receiver.got) == sent
        clock.t = row[1]
        worker.run_once()
        assert len(receiver.got) == sent + 1
    times = [t - start for t, _, _ in receiver.got]
    assert [b - a for a, b in zip([0, *times], times)] == list(outbox.SCHEDULE)
    assert database.execute("SELECT state, attempts FROM webhook_messages") == [("failed", 10)]
    assert len(store.deliveries(acme[0])) == 10
    # the same message id and body on every attempt, signed each time
    ids = {h["webhook-id"] for _, h, _ in receiver.got}
    assert len(ids) == 1 and len({p for _, _, p in receiver.got}) == 1


def test_signatures_verify_with_standardwebhooks(store, config, acme):
    receiver = Receiver(time.time)
    store.create_key("acme", config)
    Deliverer(store, send=receiver).run_once()
    (_, headers, payload), = receiver.got
    assert Webhook(acme[1]).verify(payload, headers)["type"] == "key.created"
    with pytest.raises(Exception):
        Webhook(webhook_endpoints.new_secret()).verify(payload, headers)
    assert headers["webhook-signature"].startswith("v1,")


def test_410_disables_the_endpoint(store, database, config, acme):
    clock = Clock()
    receiver = Receiver(clock, status=410)
    store.create_key("acme", config)
    store.create_key("acme", config)
    database.execute("UPDATE webhook_messages SET next_at = ?", [clock.t])
    Deliverer(store, clock=clock, send=receiver).run_once()
    assert len(receiver.got) in (1, 2)  # one batch may hold both
    endpoint = store.get_endpoint(acme[0])
    assert endpoint.disabled and "410" in endpoint.disabled_reason
    clock.t += 10**6
    store.create_key("acme", config)  # a disabled endpoint gets no new events
    Deliverer(store, clock=clock, send=receiver).run_once()
    assert len(receiver.got) in (1, 2)
    assert payloads(database, "key.created")[2:] == []


def test_a_leased_message_is_not_claimed_twice(store, config, acme):
    store.create_key("acme", config)
    now = time.time() + 1
    first = store.claim_messages("a", now)
    assert len(first) == 1
    assert store.claim_messages("b", now) == []
    assert store.claim_messages("b", now + outbox.LEASE_SECONDS) != []  # its worker died: the lease runs out


def test_two_workers_deliver_each_message_once(store, config, acme):
    with store.connection() as conn:
        for _ in range(40):
            outbox.emit(conn, "acme", "key.created", {"n": 1})
    got, lock = [], threading.Lock()

    def send(url, headers, payload):
        with lock:
            got.append(headers["webhook-id"])
        time.sleep(0.01)
        return 200, None

    workers = [Deliverer(store, send=send) for _ in range(2)]
    threads = [threading.Thread(target=w.run_once) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 40 and len(set(got)) == 40


def _count(database, type_):
    return database.execute("SELECT COUNT(*) FROM webhook_messages WHERE type = ?", [type_])[0][0]


def test_500_refusals_give_one_hourly_reached_per_hour(store, database, admit, acme):
    now = 1_800_000_000.0
    for i in range(3):
        assert admit(store, "key_x", "acme", 3, None, now + i).admitted
    for i in range(500):
        assert not admit(store, "key_x", "acme", 3, None, now + 3 + i * 0.001).admitted
    assert _count(database, "limit.hourly_reached") == 1
    data = payloads(database, "limit.hourly_reached")[0]["data"]
    assert data == {"account": "acme", "key_id": "key_x", "limit": 3, "retry_after_seconds": 3597}
    # an hour later the key fills up again: one more
    for i in range(10):
        admit(store, "key_x", "acme", 3, None, now + 3700 + i)
    assert _count(database, "limit.hourly_reached") == 2


def test_monthly_thresholds_once_each(store, database, admit, acme):
    now = 1_800_000_000.0
    for i in range(12):
        admit(store, "key_y", "acme", None, 10, now + i)
    got = [p["data"] for p in payloads(database, "quota.monthly_threshold")]
    assert [(d["threshold_percent"], d["used"]) for d in got] == [(80, 8), (100, 10)]
    store.reset_account("acme")
    for i in range(12):
        admit(store, "key_y", "acme", None, 10, now + 100 + i)
    assert _count(database, "quota.monthly_threshold") == 2  # once each per month, even after a reset


def test_key_expiring_once_seven_days_before(store, database, config, acme):
    soon = store.create_key("acme", config, expires=dbmod.utcnow() + timedelta(days=3))
    store.create_key("acme", config, expires=dbmod.utcnow() + timedelta(days=30))
    assert store.queue_expiring_keys(time.time()) == 1
    assert store.queue_expiring_keys(time.time()) == 0
    (got,) = payloads(database, "key.expiring")
    assert got["data"]["key_id"] == soon.id


def _deliver_one(store, database, config, clock) -> tuple[dict, str]:
    """Create a key (one key.created message), deliver it at `clock`: (headers, payload)."""
    receiver = Receiver(clock)
    store.create_key("acme", config)
    database.execute("UPDATE webhook_messages SET next_at = ? WHERE state = 'pending'", [clock.t])
    Deliverer(store, clock=clock, send=receiver).run_once()
    (_, headers, payload), = receiver.got
    return headers, payload


def _verifies(secret: str, payload: str, headers: dict) -> bool:
    try:
        Webhook(secret).verify(payload, headers)
        return True
    except Exception:
        return False


def test_rotated_secret_signs_next_to_the_old_one_during_the_grace_only(store, database, config, acme):
    endpoint, old = acme
    clock = Clock(time.time())  # near now: receivers check the timestamp (5 minutes)
    row, new = store.rotate_secret(endpoint, 60, now=dbmod.utcnow())
    assert new != old and row.previous_secret_until is not None and "secret" not in asdict(row)
    headers, payload = _deliver_one(store, database, config, clock)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert _verifies(old, payload, headers) and _verifies(new, payload, headers)
    clock.t += 61  # the grace is over
    headers, payload = _deliver_one(store, database, config, clock)
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert _verifies(new, payload, headers) and not _verifies(old, payload, headers)
    # and the old secret is gone from the database, not merely unused
    assert database.execute("SELECT previous_secret, previous_secret_until FROM webhook_endpoints") == [
        (None, None)]


def test_a_second_rotation_drops_the_first_secret_and_zero_grace_drops_at_once(store, database, config, acme):
    endpoint, first = acme
    _, second = store.rotate_secret(endpoint, 3600)
    _, third = store.rotate_secret(endpoint, 3600)
    headers, payload = _deliver_one(store, database, config, Clock(time.time()))
    assert [_verifies(s, payload, headers) for s in (first, second, third)] == [False, True, True]
    row, fourth = store.rotate_secret(endpoint, 0)
    assert row.previous_secret_until is None
    headers, payload = _deliver_one(store, database, config, Clock(time.time()))
    assert [_verifies(s, payload, headers) for s in (third, fourth)] == [False, True]


def test_endpoints_pause_on_a_tier_without_webhooks_and_resume_on_upgrade(store, database, config, acme):
    endpoint, _ = acme
    store.create_key("acme", config)  # queued while pro: held, not lost
    store.set_tier("acme", "free", config)
    row = store.get_endpoint(endpoint)
    assert row.paused and row.disabled is None
    store.revoke_key(store.list_keys("acme")[0].id)  # nothing is queued while paused
    assert len(payloads(database)) == 1
    receiver = Receiver(time.time)
    assert Deliverer(store, send=receiver).run_once() == {} and receiver.got == []
    store.set_tier("acme", "pro", config)
    assert store.get_endpoint(endpoint).paused is None
    assert Deliverer(store, send=receiver).run_once() == {"delivered": 1}
    assert [json.loads(p)["type"] for _, _, p in receiver.got] == ["key.created"]
