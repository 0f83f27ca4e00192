"""A real mitmdump subprocess with the AiSpendTrack addon, for end-to-end tests."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from pathlib import Path

from aispendtrack.launch import ENTRY, MITMDUMP, Mitmdump, free_port, mitmdump_argv, stop_process, wait_port  # noqa: F401  (re-exported)

REPO = Path(__file__).resolve().parents[2]


class Proxy(Mitmdump):
    """mitmdump with the addon; `modes` maps a name to a mode spec with `{port}` left open;
    `config_text` becomes its config file."""

    def __init__(self, tmp: Path, db_path: Path, *, modes: dict[str, str], config_text: str = "",
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None):
        config_path = tmp / "mitm.toml"
        config_path.write_text(config_text)
        super().__init__(
            modes=modes, config_path=config_path, db_path=db_path, workdir=tmp,
            log_path=tmp / f"mitmdump-{len(list(tmp.glob('mitmdump-*.log')))}.log", extra_args=extra_args,
            # faulthandler: a crash of mitmdump leaves its Python stack in the log
            env={"PYTHONFAULTHANDLER": "1", **(env or {})},
        )  # fmt: skip

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)


def database_with_key(tmp: Path, label: str, tier: str = "enterprise") -> tuple[Path, str]:
    """A fresh ledger database in `tmp` with account `acme` and one key: (db path, plaintext key)."""
    from aispendtrack.config import Config
    from aispendtrack.store import open_store

    db_path = tmp / "aispendtrack.db"
    with open_store(db_path) as store:
        store.create_account("acme", tier)
        key = store.create_key("acme", Config(), name=label).key
    return db_path, key


class Serve:
    """A real `aispendtrack serve` subprocess on a free loopback port."""

    def __init__(self, tmp: Path, db_path: Path, config_path: Path):
        self.port = free_port()
        self.argv = [str(MITMDUMP.parent / "aispendtrack"), "--config", str(config_path), "--db", str(db_path),
                     "serve", "--port", str(self.port)]
        self.log_path = tmp / f"serve-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Serve:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_port(self.port, proc=self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"serve did not start:\n{self.output()}")
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            stop_process(self.proc, sig)
            self._log.close()
            self.proc = None

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def __enter__(self) -> Serve:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def http(method: str, url: str, key: str | None = None, body: dict | None = None) -> tuple[int, bytes]:
    """(status, body) of one request; never raises for an HTTP error status."""
    import json
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if key is not None:
        req.add_header("x-aispendtrack-key", key)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def fill(directory: Path) -> None:
    """Write `directory/filler` until the disk it is on is full."""
    with open(directory / "filler", "wb", buffering=0) as f:  # unbuffered: nothing left to fail at close
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass


@contextlib.contextmanager
def proxy_and_serve(tmp: Path, db_path: Path, config_text: str):
    """The fake provider, mitmdump reverse-proxying OpenAI-style to it, and `serve`, on one
    database and one config (`tmp/mitm.toml`): yields (fake, proxy, serve)."""
    from aispendtrack.demo.fake.server import FakeProvider

    (tmp / "mitm.toml").write_text(config_text)
    with FakeProvider().start() as fake:
        proxy = Proxy(tmp, db_path, modes={"openai": "reverse:" + fake.url + "@{port}"},
                      config_text=config_text).start()
        try:
            with Serve(tmp, db_path, tmp / "mitm.toml") as serve:
                yield fake, proxy, serve
        finally:
            proxy.stop()


def self_signed(path: Path, name: str = "127.0.0.1") -> Path:
    """A self-signed certificate and its key in one PEM file at `path`, valid for `name`
    (DNS name or IP address) and usable as its own CA."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    try:
        san = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        san = x509.DNSName(name)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                     + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    return path


def record_replies(monkeypatch) -> dict[str, bytes]:
    """request id → the bytes the in-process fake provider generates for it (before any gzip)."""
    from aispendtrack.demo.fake import server as fakeprovider

    sent: dict[str, bytes] = {}
    build = fakeprovider.build

    def recording_build(call):
        reply = build(call)
        sent[call.request_id] = b"".join(reply.frames) if reply.frames is not None else reply.body
        return reply

    monkeypatch.setattr(fakeprovider, "build", recording_build)
    return sent
