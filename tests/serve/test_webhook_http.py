"""serve.webhook_http and the delivery worker: a webhook goes to the address that was checked
(Host header and TLS name from the URL), redirects are answers, refused addresses are
recorded with a short reason, and a name that turns private between registration and
delivery is not followed. Real sockets on 127.0.0.1, an injected resolver."""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aispendtrack.serve import webhook_targets as targets
from aispendtrack.serve.delivery import Deliverer
from aispendtrack.serve.webhook_http import Sender
from support.harness import self_signed

OPTED_IN = targets.Policy(allow_private_networks=True)


class Server:
    """A local HTTP(S) server answering `status` (with `location`), keeping each request's
    (path, Host header, TLS server name)."""

    def __init__(self, status: int = 200, location: str | None = None, tls: ssl.SSLContext | None = None):
        self.got: list[tuple[str, str, str | None]] = []
        self.sni: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                outer.got.append((self.path, self.headers["host"], outer.sni[-1] if outer.sni else None))
                self.send_response(status)
                if location:
                    self.send_header("location", location)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]

    def __enter__(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def dns(table: dict[str, list[str]]):
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return table[host]

    resolve.calls = calls
    return resolve


def test_posts_to_the_checked_address_with_the_urls_host():
    resolve = dns({"hooks.test": ["127.0.0.1"]})
    with Server() as server:
        status, error = Sender(OPTED_IN, resolver=resolve)(f"http://hooks.test:{server.port}/in?x=1", {}, "{}")
    assert (status, error) == (200, None)
    assert server.got == [("/in?x=1", f"hooks.test:{server.port}", None)]
    assert resolve.calls == ["hooks.test"]


def test_tls_verifies_and_sends_the_urls_name(tmp_path):
    pem = self_signed(tmp_path / "hooks.pem", "hooks.test")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(pem)
    client_tls = ssl.create_default_context(cafile=str(pem))
    resolve = dns({"hooks.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    with Server(tls=server_tls) as server:
        send = Sender(OPTED_IN, resolver=resolve, tls=client_tls)
        assert send(f"https://hooks.test:{server.port}/h", {}, "{}") == (200, None)
        status, error = send(f"https://other.test:{server.port}/h", {}, "{}")  # the certificate names hooks.test
    assert server.got == [("/h", f"hooks.test:{server.port}", "hooks.test")]
    assert status is None and error.startswith("TLS certificate not accepted") and "mismatch" in error


def test_a_redirect_is_an_answer_not_a_new_destination():
    with Server() as elsewhere, Server(302, f"http://127.0.0.1:{elsewhere.port}/stolen") as server:
        result = Sender(OPTED_IN)(f"http://127.0.0.1:{server.port}/h", {}, "{}")
        assert result == (302, None)
        assert len(server.got) == 1 and elsewhere.got == []


def test_connects_only_to_the_address_it_checked(monkeypatch):
    """The answer checked is the answer connected to: a resolver that turns private on its
    next call (DNS rebinding) is asked once per attempt."""
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    asked, connected = [], []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    def connect(address, timeout=None, *args):
        connected.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", connect)
    status, error = Sender(targets.Policy(), resolver=rebinding)("https://rebind.example/h", {}, "{}")
    assert (status, error) == (None, "connection refused")
    assert asked == ["rebind.example"] and connected == [("93.184.215.14", 443)]


@pytest.fixture
def acme(store):
    store.create_account("acme", "pro")


def test_a_name_that_turns_private_after_registration_is_not_delivered_to(store, config, acme):
    table = {"hooks.example": ["93.184.215.14"]}
    with Server() as receiver:
        url = f"http://hooks.example:{receiver.port}/h"
        targets.check_registration(url, targets.Policy(), dns(table))  # public when registered
        endpoint, _ = store.add_endpoint("acme", url, None)
        table["hooks.example"] = ["127.0.0.1"]  # then the name points inside
        store.create_key("acme", config)
        worker = Deliverer(store, send=Sender(targets.Policy(), resolver=dns(table)))
        assert worker.run_once() == {"pending": 1}
    assert receiver.got == []
    (attempt,) = store.deliveries(endpoint.id)
    assert attempt.status is None and attempt.error == "hooks.example: address 127.0.0.1 is loopback"


def test_refused_literal_is_recorded_with_a_short_reason(store, database, config, acme):
    """An endpoint registered before the rule (or straight into the store) is refused at delivery."""
    with Server() as receiver:
        endpoint, _ = store.add_endpoint("acme", f"http://127.0.0.1:{receiver.port}/h", None)
        store.create_key("acme", config)
        Deliverer(store).run_once()
        assert receiver.got == []
        (attempt,) = store.deliveries(endpoint.id)
        assert attempt.error == "address 127.0.0.1 is loopback"
        database.execute("UPDATE webhook_messages SET next_at = 0")
        assert Deliverer(store, policy=OPTED_IN).run_once() == {"delivered": 1}
        assert len(receiver.got) == 1
