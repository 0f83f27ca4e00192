"""Webhooks reach only the public internet by default (issue 20, row 2), through a real
`serve` and the real CLI: every odd address form is refused at registration, an endpoint
that points inside anyway is refused at delivery with a short reason, and a redirect is
not followed even where local addresses are allowed."""

from __future__ import annotations

import json
import re

import pytest

from aispendtrack.config import Config
from aispendtrack.store import open_store

from support.harness import Serve, http
from support.webhooks import Receiver, cli, wait_for

REFUSED = [  # (URL, what the refusal says)
    ("http://127.0.0.1:9/h", "address 127.0.0.1 is loopback"),
    ("http://localhost:9/h", "localhost is loopback"),
    ("http://[::1]:9/h", "address ::1 is loopback"),
    ("http://0.0.0.0:9/h", "address 0.0.0.0 is unspecified"),
    ("http://127.1:9/h", "address 127.0.0.1 is loopback"),
    ("http://2130706433:9/h", "address 127.0.0.1 is loopback"),
    ("http://0x7f.0.0.1:9/h", "address 127.0.0.1 is loopback"),
    ("http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is a cloud metadata address"),
    ("http://[fd00::1]/h", "address fd00::1 is private"),
    ("http://10.0.0.1/h", "address 10.0.0.1 is private"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal is a cloud metadata host"),
    # resolves to 10.0.0.1 on line, not at all off line: refused either way (the resolved case: test_webhook_targets)
    ("http://10.0.0.1.nip.io/h", "10.0.0.1.nip.io"),
    ("http://[::ffff:127.0.0.1]:9/h", "address ::ffff:127.0.0.1 is loopback"),
]


@pytest.fixture
def plane(tmp_path):
    db_path = tmp_path / "aispendtrack.db"
    store = open_store(db_path)
    store.create_account("acme", "pro")
    strict, opted_in = tmp_path / "strict.toml", tmp_path / "local.toml"
    strict.write_text("")
    opted_in.write_text("[webhooks]\nallow_private_networks = true\n")
    yield tmp_path, db_path, store, strict, opted_in
    store.close()


def test_registration_refuses_every_form_of_an_inside_address(plane):
    tmp, db_path, store, strict, _ = plane
    owner = store.create_key("acme", Config()).key
    with Serve(tmp, db_path, strict) as serve:
        for url, reason in REFUSED:
            status, body = http("POST", serve.url + "/v1/webhooks", owner, {"url": url})
            assert status == 400, (url, body)
            message = json.loads(body)["error"]["message"]
            assert reason in message, message
            assert "allow_private_networks = true" in message or "cannot resolve" in message, message
        assert json.loads(http("GET", serve.url + "/v1/webhooks", owner)[1]) == []
    for url, reason in REFUSED[::4]:  # the CLI's own test runs every form in process
        result = cli(db_path, strict, "webhooks", "add", "acme", url)
        assert result.returncode != 0 and reason in result.stderr, (url, result.stderr)
    assert store.list_endpoints() == []


def test_delivery_refuses_inside_addresses_with_a_short_reason(plane):
    """Endpoints stored before the rule existed (or by hand) are checked again at every delivery."""
    tmp, db_path, store, strict, _ = plane
    owner = store.create_key("acme", Config()).key
    with Receiver() as receiver:
        by_literal, _ = store.add_endpoint("acme", receiver.url("/literal"), None)
        by_name, _ = store.add_endpoint("acme", receiver.url("/name").replace("127.0.0.1", "localhost"),
                                         None)
        with Serve(tmp, db_path, strict) as serve:
            store.create_key("acme", Config())  # key.created for both
            wait_for(lambda: len(store.deliveries(by_name.id)) >= 1, what="an attempt by name")
            wait_for(lambda: len(store.deliveries(by_literal.id)) >= 1, what="an attempt by address")
            api = json.loads(http("GET", f"{serve.url}/v1/webhooks/{by_literal.id}/deliveries", owner)[1])
    assert receiver.got == [] and receiver.bad == []
    assert api[0]["status"] is None and api[0]["error"] == "address 127.0.0.1 is loopback"
    shown = cli(db_path, strict, "webhooks", "deliveries", by_name.id).stdout
    # (a narrow terminal may wrap the reason inside its column: its words, in order)
    assert re.search(r"localhost is\s(.*\n)?.*loopback", shown), shown
    assert "Connection refused" not in shown and "Errno" not in shown


def test_no_redirect_is_followed_where_local_addresses_are_allowed(plane):
    tmp, db_path, store, _, opted_in = plane
    with Receiver() as elsewhere, Receiver() as receiver:
        row, receiver.secrets["/h"] = store.add_endpoint("acme", receiver.url("/h"), None)
        receiver.status = 302  # a verified delivery answered with a redirect to `elsewhere`
        receiver.location = elsewhere.url("/stolen")
        with Serve(tmp, db_path, opted_in):
            store.create_key("acme", Config())
            wait_for(lambda: receiver.got, what="the first attempt")
            attempts = wait_for(lambda: store.deliveries(row.id), what="a recorded attempt")
    assert elsewhere.got == [] and elsewhere.bad == []
    assert attempts[0].status == 302 and attempts[0].state == "pending"
