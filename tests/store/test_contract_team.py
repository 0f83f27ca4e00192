"""Members, dashboard sessions, webhook endpoints and the outbox through the store, the same
on SQLite and PostgreSQL. Queued events are read back the way the delivery worker sees
them (`claim_messages`)."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from aispendtrack.config import Config
from aispendtrack.store import keys
from aispendtrack.store.members import RoleDenied
from aispendtrack.store.records import Endpoint, KeyStoreError, Member, Message, Session
from aispendtrack.store.webhook_endpoints import WebhookError

CONFIG = Config()


def queued(store, now=None) -> list[dict]:
    """Every message due now, claimed (and so leased) once: their payloads, oldest first."""
    got = store.claim_messages("test", now or time.time() + 1, limit=1000)
    return [json.loads(m.payload) for m in got]


def test_members_their_roles_and_their_keys(store):
    store.create_account("acme", "pro")
    owner = store.get_member("acme")
    assert isinstance(owner, Member) and (owner.account, owner.name, owner.role) == ("acme", "owner", "owner")
    bob = store.add_member("acme", "bob", "member", CONFIG)
    assert (bob.name, bob.role) == ("bob", "member") and bob.id != owner.id
    key = store.create_key("acme", CONFIG, member="bob")
    assert store.member_of_key(key.id) == Member(bob.id, "acme", "bob", "member", bob.created)
    assert store.member_of_key("key_nope") is None
    assert [(m.name, m.role, m.keys) for m in store.list_members("acme")] == [("owner", "owner", 0), ("bob", "member", 1)]
    with pytest.raises(KeyStoreError, match="account 'acme' already has a member 'bob'"):
        store.add_member("acme", "bob", "viewer", CONFIG)
    with pytest.raises(KeyStoreError, match="unknown role 'boss'"):
        store.add_member("acme", "carol", "boss", CONFIG)
    with pytest.raises(KeyStoreError, match="no account named 'nope'"):
        store.list_members("nope")
    assert store.set_role("acme", "bob", "admin") == "member"
    assert store.get_member("acme", "bob").role == "admin"
    assert store.remove_member("acme", "bob") == [key.id]
    assert store.get_key(key.id).revoked is not None
    with pytest.raises(KeyStoreError, match="account 'acme' has no member 'bob'"):
        store.get_member("acme", "bob")
    assert [m.name for m in store.list_members()] == ["owner"]


def test_the_last_owner_stays_and_no_one_acts_above_their_role(store):
    store.create_account("acme", "pro")
    store.add_member("acme", "ann", "admin", CONFIG)
    with pytest.raises(KeyStoreError, match="'owner' is the only owner of 'acme'; make another member owner first"):
        store.set_role("acme", "owner", "admin")
    with pytest.raises(KeyStoreError, match="'owner' is the only owner of 'acme'; add another owner first"):
        store.remove_member("acme", "owner")
    with pytest.raises(RoleDenied, match="it cannot make anyone an owner"):
        store.set_role("acme", "ann", "owner", up_to="admin")
    with pytest.raises(RoleDenied, match="it cannot change the role of an owner"):
        store.set_role("acme", "owner", "viewer", up_to="admin")
    assert store.set_role("acme", "ann", "owner") == "admin"
    assert store.set_role("acme", "owner", "viewer") == "owner"  # ann is an owner now


def test_a_tier_without_team_access_has_one_member(store):
    store.create_account("solo")
    with pytest.raises(KeyStoreError, match="team access needs the pro or enterprise tier"):
        store.add_member("solo", "bob", "member", CONFIG)
    assert [m.name for m in store.list_members("solo")] == ["owner"]


def test_sessions_are_created_looked_up_ended_and_expire(store):
    digest = keys.digest(keys.generate_key())
    session = store.create_session(digest, 12)
    assert isinstance(session, Session) and session.key_digest == digest and len(session.id) >= 40
    assert store.lookup_session(session.id) == session
    assert store.lookup_session("nope") is None and store.lookup_session(None) is None
    assert store.lookup_session("x" * 101) is None
    store.end_session(session.id)
    assert store.lookup_session(session.id) is None
    gone = store.create_session(digest, 0)  # ends at once
    assert store.lookup_session(gone.id) is None


def test_webhook_endpoints_and_their_secrets(store):
    store.create_account("acme", "pro")
    store.create_account("solo")
    endpoint, secret = store.add_endpoint("acme", "https://hooks.example/a", ("key.created",),
                                          CONFIG.tier_permissions())
    assert isinstance(endpoint, Endpoint) and secret.startswith("whsec_") and secret not in repr(endpoint)
    assert (endpoint.account, endpoint.url, endpoint.events, endpoint.state) == (
        "acme", "https://hooks.example/a", ("key.created",), "enabled")
    assert store.get_endpoint(endpoint.id) == endpoint
    with pytest.raises(WebhookError, match=f"no webhook endpoint '{endpoint.id}' in account solo"):
        store.get_endpoint(endpoint.id, "solo")
    with pytest.raises(WebhookError, match="account 'solo' is on the free tier: webhooks need the pro"):
        store.add_endpoint("solo", "https://hooks.example/s", None, CONFIG.tier_permissions())
    with pytest.raises(WebhookError, match="no account named 'nope'"):
        store.add_endpoint("nope", "https://hooks.example/s", None)
    rotated, new_secret = store.rotate_secret(endpoint.id, 3600)
    assert new_secret != secret and rotated.previous_secret_until is not None
    store.create_key("acme", CONFIG)
    (message,) = store.claim_messages("w1", time.time() + 1)
    assert isinstance(message, Message)
    assert (message.secret, message.previous_secret, message.url) == (new_secret, secret, "https://hooks.example/a")
    assert [e.id for e in store.list_endpoints("acme")] == [endpoint.id] and store.list_endpoints("solo") == []
    assert store.remove_endpoint(endpoint.id).id == endpoint.id
    assert store.list_endpoints() == []


def test_changes_queue_their_events_in_their_own_transaction(store):
    store.create_account("acme", "pro")
    store.add_endpoint("acme", "https://hooks.example/a", None)
    new = store.create_key("acme", CONFIG, name="ci")
    store.rotate_key(new.id, CONFIG)
    store.add_member("acme", "bob", "member", CONFIG)
    store.set_role("acme", "bob", "admin")
    store.remove_member("acme", "bob")
    store.revoke_key(new.id)
    with pytest.raises(KeyStoreError):
        store.create_key("acme", CONFIG, member="ghost")  # refused: queues nothing
    got = queued(store)
    assert [p["type"] for p in got] == ["key.created", "key.rotated", "member.added", "member.role_changed",
                                        "member.removed", "key.revoked"]
    assert got[0]["data"] == {"account": "acme", "key_id": new.id, "name": "ci", "member": "owner",
                              "hint": new.hint, "expires": None}
    assert new.key not in json.dumps(got)


def test_delivery_attempts_leases_and_the_retry_schedule(store):
    store.create_account("acme", "pro")
    endpoint, _ = store.add_endpoint("acme", "https://hooks.example/a", None)
    assert store.send_test_event(endpoint.id) == 1
    now = time.time() + 1
    (m,) = store.claim_messages("w1", now)
    assert store.claim_messages("w2", now) == []  # leased to w1
    assert store.record_attempt(m, "w1", now, 500, None, 12) == "pending"
    assert store.claim_messages("w2", now + 1) == []  # the next attempt is 5 s later
    (again,) = store.claim_messages("w2", now + 6)
    assert (again.id, again.attempts) == (m.id, 1)
    assert store.record_attempt(again, "w2", now + 6, 204, None, 3) == "delivered"
    assert store.claim_messages("w1", now + 10_000) == []
    attempts = store.deliveries(endpoint.id)
    assert [(a.status, a.state, a.attempts) for a in attempts] == [(204, "delivered", 2), (500, "delivered", 2)]
    assert attempts[0].type == "webhook.test"


def test_a_lease_that_ran_out_is_claimed_again_and_410_disables(store):
    store.create_account("acme", "pro")
    endpoint, _ = store.add_endpoint("acme", "https://hooks.example/a", None)
    store.send_test_event(endpoint.id)
    now = time.time() + 1
    (m,) = store.claim_messages("w1", now, lease=30)
    (m2,) = store.claim_messages("w2", now + 31)  # w1 went quiet
    assert m2.id == m.id
    assert store.record_attempt(m, "w1", now + 32, 200, None, 1) == "delivered"  # too late: w2 holds it
    assert store.record_attempt(m2, "w2", now + 33, 410, None, 1) == "disabled"
    assert store.get_endpoint(endpoint.id).disabled_reason == "the receiver answered 410 Gone"


def test_expiring_keys_are_announced_once(store):
    store.create_account("acme", "pro")
    store.add_endpoint("acme", "https://hooks.example/a", ("key.expiring",))
    soon = store.create_key("acme", CONFIG, expires=datetime.now(UTC) + timedelta(days=3))
    store.create_key("acme", CONFIG, expires=datetime.now(UTC) + timedelta(days=30))
    now = time.time()
    assert store.queue_expiring_keys(now) == 1
    assert store.queue_expiring_keys(now + 60) == 0
    assert [p["data"]["key_id"] for p in queued(store, now + 61)] == [soon.id]


def test_a_downgrade_pauses_endpoints_and_an_upgrade_resumes_them(store):
    store.create_account("acme", "pro")
    endpoint, _ = store.add_endpoint("acme", "https://hooks.example/a", None)
    store.set_tier("acme", "free", CONFIG)
    assert store.get_endpoint(endpoint.id).paused is not None
    store.create_key("acme", CONFIG)
    assert queued(store) == []  # nothing queued for a paused endpoint
    store.set_tier("acme", "pro", CONFIG)
    assert store.get_endpoint(endpoint.id).state == "enabled"
