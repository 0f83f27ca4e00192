"""A webhook receiver on 127.0.0.1 that verifies every delivery with the official
`standardwebhooks` package, and the `aispendtrack` command line the webhook tests drive."""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

from support.harness import MITMDUMP

CLI = str(MITMDUMP.parent / "aispendtrack")


class Receiver:
    """Webhook receiver: verifies each POST with its endpoint's secret, answers `status`."""

    def __init__(self):
        self.secrets: dict[str, str] = {}
        self.status = 200
        self.location: str | None = None  # sent with every answer when set (a redirect)
        self.got: list[dict] = []  # {"path", "id", "status", "payload", "body", "headers"} per verified attempt
        self.bad: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"])).decode()
                try:
                    payload = Webhook(outer.secrets[self.path]).verify(body, dict(self.headers))
                except Exception as e:  # a bad signature is a test failure, reported below
                    with outer.lock:
                        outer.bad.append(f"{self.path}: {e!r}")
                    self.send_response(400)
                    self.end_headers()
                    return
                status = outer.status
                with outer.lock:
                    outer.got.append({"path": self.path, "id": self.headers["webhook-id"], "status": status,
                                      "payload": payload, "body": body, "headers": dict(self.headers)})
                self.send_response(status)
                if outer.location:
                    self.send_header("location", outer.location)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def delivered(self, type_: str | None = None) -> list[dict]:
        with self.lock:
            return [g["payload"] for g in self.got if 200 <= g["status"] < 300
                    and (type_ is None or g["payload"]["type"] == type_)]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate, timeout=20.0, what="condition"):
    deadline = time.time() + timeout
    while not (result := predicate()):
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


def cli(db_path, config_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "--db", str(db_path), "--config", str(config_path), *args],
                          capture_output=True, text=True, timeout=60)
