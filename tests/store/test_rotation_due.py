"""`key.rotation_due`: queued once per key and secret when the secret is `rotate_after_days`
old; a rotation makes a new secret, so the reminder comes again only when that one is old."""

import json
import time
from datetime import UTC, datetime

from aispendtrack.config import Config
from aispendtrack.store.db import iso

DAY = 86_400


def age(store, key_id: str, days: float) -> None:
    """Make the key's secrets (and the key) `days` old, as time would."""
    when = iso(datetime.fromtimestamp(time.time() - days * DAY, UTC))
    with store.connection() as conn, conn.tx():
        conn.execute("UPDATE key_secrets SET created = ? WHERE key_id = ?", [when, key_id])
        conn.execute("UPDATE keys SET created = ? WHERE id = ?", [when, key_id])


def events(store) -> list[dict]:
    with store.connection() as conn:
        rows = conn.execute("SELECT type, payload FROM webhook_messages ORDER BY created").fetchall()
    return [json.loads(p)["data"] for t, p in rows if t == "key.rotation_due"]


def test_a_key_is_announced_once_when_its_secret_is_old_and_again_after_a_rotation(store):
    config = Config()
    store.create_account("acme", "pro")
    store.add_endpoint("acme", "https://hooks.example.com/x", None)
    old, young = store.create_key("acme", config, name="old"), store.create_key("acme", config, name="young")
    revoked = store.create_key("acme", config, name="gone")
    age(store, old.id, 91)
    age(store, young.id, 89)
    age(store, revoked.id, 200)
    store.revoke_key(revoked.id)
    now = time.time()
    assert store.queue_rotation_due(now, 90) == 1
    assert store.queue_rotation_due(now + 60, 90) == 0  # once per key and secret
    (sent,) = events(store)
    assert (sent["key_id"], sent["name"], sent["account"], sent["rotate_after_days"]) == (old.id, "old", "acme", 90)
    info = {k.id: k for k in store.list_keys("acme")}
    due = iso(datetime.fromtimestamp(now - 90 * DAY, UTC))
    assert info[old.id].rotation_due(iso(datetime.fromtimestamp(now, UTC)), due)
    assert not info[young.id].rotation_due(iso(datetime.fromtimestamp(now, UTC)), due)
    assert not info[revoked.id].rotation_due(iso(datetime.fromtimestamp(now, UTC)), due)
    store.rotate_key(old.id, config)  # a new secret: not due, and no second event now
    assert not {k.id: k for k in store.list_keys("acme")}[old.id].rotation_due(
        iso(datetime.fromtimestamp(now, UTC)), due)
    assert store.queue_rotation_due(now, 90) == 0
    assert store.queue_rotation_due(now + 91 * DAY, 90) >= 1  # that secret's own reminder, 91 days on
    assert [e["key_id"] for e in events(store)].count(old.id) == 2
