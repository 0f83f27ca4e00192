"""`aispendtrack members …` and `aispendtrack webhooks …`."""

import json
import re





def test_members_lifecycle(run):
    run("accounts", "create", "acme", "--tier", "pro", "--owner", "ann")
    run("members", "add", "acme", "bob", "--role", "viewer")
    key = json.loads(run("keys", "create", "acme", "--member", "bob", "--json").output)
    listed = json.loads(run("members", "list", "acme", "--json").output)
    assert [(m["name"], m["role"], m["keys"]) for m in listed] == [("ann", "owner", 0), ("bob", "viewer", 1)]
    assert json.loads(run("keys", "list", "--json").output)[0]["member"] == "bob"
    assert "revoked 1 key(s)" in run("members", "remove", "acme", "bob").output
    assert json.loads(run("keys", "list", "--json", "--all").output)[0]["state"] == "revoked"
    assert key["key"] not in run.db.read_bytes().decode("latin-1")
    assert "'boss' is not one of" in run("members", "add", "acme", "x", "--role", "boss", ok=False).output
    assert "no member 'zed'" in run("members", "remove", "acme", "zed", ok=False).output


def test_webhooks_secret_printed_once(run):
    run("accounts", "create", "acme", "--tier", "pro")
    out = run("webhooks", "add", "acme", "http://127.0.0.1:9/hook", "--events", "key.created").output
    secret = re.search(r"whsec_\S+", out).group(0)
    endpoint = re.search(r"wh_[0-9a-f]{12}", out).group(0)
    listed = run("webhooks", "list", "--json").output
    assert json.loads(listed)[0]["events"] == ["key.created"] and secret not in listed
    assert secret not in run("webhooks", "list").output
    run("webhooks", "test", endpoint)
    assert json.loads(run("webhooks", "deliveries", endpoint, "--json").output) == []  # queued, not yet sent
    assert "http:// or https://" in run("webhooks", "add", "acme", "file:///etc/passwd", ok=False).output
    assert "unknown event" in run("webhooks", "add", "acme", "http://x/", "--events", "nope", ok=False).output
    assert "no account" in run("webhooks", "add", "ghost", "http://x/", ok=False).output
    run("accounts", "create", "solo")
    assert "webhooks need the pro or enterprise tier" in run("webhooks", "add", "solo", "http://x/", ok=False).output
    run("webhooks", "remove", endpoint)
    assert json.loads(run("webhooks", "list", "--json").output) == []
    assert "no webhook endpoint" in run("webhooks", "remove", endpoint, ok=False).output
