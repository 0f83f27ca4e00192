"""`aispendtrack members …` and `aispendtrack webhooks …`."""

import json
import re

import pytest

PUBLIC = "https://93.184.215.14/hook"  # a public address literal: no DNS, and nothing is sent here


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
    out = run("webhooks", "add", "acme", PUBLIC, "--events", "key.created").output
    secret = re.search(r"whsec_\S+", out).group(0)
    endpoint = re.search(r"wh_[0-9a-f]{12}", out).group(0)
    listed = run("webhooks", "list", "--json").output
    assert json.loads(listed)[0]["events"] == ["key.created"] and secret not in listed
    assert secret not in run("webhooks", "list").output
    run("webhooks", "test", endpoint)
    assert json.loads(run("webhooks", "deliveries", endpoint, "--json").output) == []  # queued, not yet sent
    assert "http:// or https://" in run("webhooks", "add", "acme", "file:///etc/passwd", ok=False).output
    assert "unknown event" in run("webhooks", "add", "acme", PUBLIC, "--events", "nope", ok=False).output
    assert "no account" in run("webhooks", "add", "ghost", PUBLIC, ok=False).output
    run("accounts", "create", "solo")
    assert "webhooks need the pro or enterprise tier" in run("webhooks", "add", "solo", PUBLIC, ok=False).output
    run("webhooks", "remove", endpoint)
    assert json.loads(run("webhooks", "list", "--json").output) == []
    assert "no webhook endpoint" in run("webhooks", "remove", endpoint, ok=False).output


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:8000/h", "address 127.0.0.1 is loopback"),
    ("http://localhost/h", "localhost is loopback"),
    ("http://[::1]/h", "address ::1 is loopback"),
    ("http://0.0.0.0/h", "address 0.0.0.0 is unspecified"),
    ("http://127.1/h", "address 127.0.0.1 is loopback"),
    ("http://2130706433/h", "address 127.0.0.1 is loopback"),
    ("http://0x7f.0.0.1/h", "address 127.0.0.1 is loopback"),
    ("http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is a cloud metadata address"),
    ("http://[fd00::1]/h", "address fd00::1 is private"),
    ("http://10.0.0.1/h", "address 10.0.0.1 is private"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal is a cloud metadata host"),
    ("http://[::ffff:127.0.0.1]/h", "address ::ffff:127.0.0.1 is loopback"),
])
def test_webhooks_add_refuses_addresses_off_the_public_internet(run, url, reason):
    run("accounts", "create", "acme", "--tier", "pro")
    out = run("webhooks", "add", "acme", url, ok=False).output
    assert reason in out and "allow_private_networks = true" in out
    assert json.loads(run("webhooks", "list", "--json").output) == []


def test_webhooks_add_local_receiver_with_the_opt_in(run, tmp_path):
    config = tmp_path / "local.toml"
    config.write_text("[webhooks]\nallow_private_networks = true\n")
    run("accounts", "create", "acme", "--tier", "pro")
    run("--config", str(config), "webhooks", "add", "acme", "http://127.0.0.1:9/hook")
    # metadata stays out even with the opt-in; an exact allow_hosts entry is the operator's explicit word
    assert "cloud metadata" in run("--config", str(config), "webhooks", "add", "acme", "http://169.254.169.254/",
                                   ok=False).output
    config.write_text('[webhooks]\nallow_hosts = ["10.1.2.3", "*.example.com"]\n')
    run("--config", str(config), "webhooks", "add", "acme", "http://10.1.2.3/h")
    assert "is private" in run("--config", str(config), "webhooks", "add", "acme", "http://10.1.2.4/h", ok=False).output
    assert len(json.loads(run("webhooks", "list", "--json").output)) == 2


def test_members_set_role(run):
    run("accounts", "create", "acme", "--tier", "pro", "--owner", "ann")
    run("members", "add", "acme", "bob", "--role", "viewer")
    assert "viewer → admin" in run("members", "set-role", "acme", "bob", "admin").output
    assert "only owner" in run("members", "set-role", "acme", "ann", "admin", ok=False).output
    run("members", "set-role", "acme", "bob", "owner")
    assert "owner → member" in run("members", "set-role", "acme", "ann", "member").output
    roles = {m["name"]: m["role"] for m in json.loads(run("members", "list", "acme", "--json").output)}
    assert roles == {"ann": "member", "bob": "owner"}
    assert "'boss' is not one of" in run("members", "set-role", "acme", "bob", "boss", ok=False).output
    assert "no member 'zed'" in run("members", "set-role", "acme", "zed", "viewer", ok=False).output


def test_webhooks_rotate_secret_prints_the_new_secret_once(run):
    run("accounts", "create", "acme", "--tier", "pro")
    first = run("webhooks", "add", "acme", PUBLIC).output
    old = re.search(r"whsec_\S+", first).group(0)
    endpoint = re.search(r"wh_[0-9a-f]{12}", first).group(0)
    out = run("webhooks", "rotate-secret", endpoint).output
    new = re.search(r"whsec_\S+", out).group(0)
    assert new != old and old not in out and "old secret too" in out
    listed = run("webhooks", "list").output + run("webhooks", "list", "--json").output
    assert "previous secret signs until" in listed and new not in listed and old not in listed
    assert "no webhook endpoint" in run("webhooks", "rotate-secret", "wh_000000000000", ok=False).output
