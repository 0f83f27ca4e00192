"""A real mitmdump subprocess with the AiSpendTrack addon, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from aispendtrack.launch import ENTRY, MITMDUMP, REPO, free_port, stop_process, wait_port  # noqa: F401  (re-exported)


class Proxy:
    """mitmdump with the addon; `modes` maps a name to a mode spec with `{port}` left open."""

    def __init__(self, tmp: Path, db_path: Path, *, modes: dict[str, str], config_text: str = "",
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None):
        self.tmp = tmp
        self.db_path = db_path
        self.ports = {name: free_port() for name in modes}
        self.modes = [spec.format(port=self.ports[name]) for name, spec in modes.items()]
        self.config_path = tmp / "mitm.toml"
        self.config_path.write_text(config_text)
        self.confdir = tmp / "mitmproxy-conf"
        self.log_path = tmp / f"mitmdump-{len(list(tmp.glob('mitmdump-*.log')))}.log"
        self.extra_args = extra_args or []
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def argv(self) -> list[str]:
        argv = [str(MITMDUMP), "-s", str(ENTRY), "--listen-host", "127.0.0.1",
                "--set", f"confdir={self.confdir}", "--set", "connection_strategy=lazy",
                "--set", f"aispendtrack_config={self.config_path}", "--set", f"aispendtrack_db={self.db_path}"]
        for mode in self.modes:
            argv += ["--mode", mode]
        return argv + self.extra_args

    def start(self) -> Proxy:
        # faulthandler: a crash of mitmdump leaves its Python stack in the log
        env = {**os.environ, "PYTHONFAULTHANDLER": "1", **self.env}
        env.pop("HTTPS_PROXY", None)
        env.pop("HTTP_PROXY", None)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv(), stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(self.tmp))
        try:
            for port in self.ports.values():
                wait_port(port, proc=self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"mitmdump did not start:\n{self.output()}")
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> int | None:
        if self.proc is None:
            return None
        stop_process(self.proc, sig, timeout)
        self._log.close()
        return self.proc.returncode

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def database_with_key(tmp: Path, label: str, tier: str = "enterprise") -> tuple[Path, str]:
    """A fresh ledger database in `tmp` with account `acme` and one key: (db path, plaintext key)."""
    from aispendtrack.store import db as dbmod
    from aispendtrack.store import keys, ledger_schema
    from aispendtrack.config import Config

    db_path = tmp / "aispendtrack.db"
    database = dbmod.connect(db_path)
    keys.ensure_schema(database)
    ledger_schema.ensure_schema(database)
    keys.create_account(database, "acme", tier)
    key = keys.create_key(database, "acme", Config(), name=label).key
    database.conn.close()
    return db_path, key
