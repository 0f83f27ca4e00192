"""Run a real `mitmdump` with the AiSpendTrack addon as a subprocess (demo, tests, bench).

    with Mitmdump(modes=["reverse:http://127.0.0.1:9000@{port}"], config_path=..., db_path=...,
                  workdir=tmp) as proxy:
        proxy.url(0)           # http://127.0.0.1:<port of the first listener>
    proxy.output()             # everything mitmdump printed (stdout + stderr)

Listeners are loopback only. `{port}` in a mode spec is replaced by a free port. `stop()`
sends SIGINT first (the addon's `done` hook runs and prints its session summary), then
SIGKILL after a bounded wait; it is idempotent and safe to call from `finally`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / "addon" / "aispendtrack_addon.py"
MITMDUMP = Path(sys.executable).parent / "mitmdump"
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    """Until something accepts on 127.0.0.1:`port`; RuntimeError if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"mitmdump exited with {proc.returncode}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {LOOPBACK}:{port} after {timeout:g} s")


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 15.0) -> int | None:
    """Send `sig` (SIGINT lets the addon's `done` hook run), wait up to `timeout` s, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


class MitmdumpError(RuntimeError):
    """mitmdump did not start; the message ends with its output."""


class Mitmdump:
    def __init__(
        self,
        *,
        modes: list[str],
        config_path: str | os.PathLike,
        db_path: str | os.PathLike,
        workdir: str | os.PathLike,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        start_timeout: float = 30.0,
    ):
        self.workdir = Path(workdir)
        self.ports = [free_port() for _ in modes]
        self.modes = [spec.replace("{port}", str(port)) for spec, port in zip(modes, self.ports)]
        self.config_path = Path(config_path)
        self.db_path = Path(db_path)
        self.confdir = self.workdir / "mitmproxy-conf"
        self.log_path = self.workdir / "mitmdump.log"
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self._log = None

    def url(self, listener: int = 0) -> str:
        return f"http://{LOOPBACK}:{self.ports[listener]}"

    def argv(self) -> list[str]:
        argv = [
            str(MITMDUMP), "-s", str(ENTRY), "--listen-host", LOOPBACK,
            "--set", f"confdir={self.confdir}", "--set", "connection_strategy=lazy",
            "--set", f"aispendtrack_config={self.config_path}", "--set", f"aispendtrack_db={self.db_path}",
        ]  # fmt: skip
        for mode in self.modes:
            argv += ["--mode", mode]
        return argv + self.extra_args

    def start(self) -> Mitmdump:
        env = {**os.environ, **self.env}
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            env.pop(name, None)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv(), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=str(self.workdir),
        )  # fmt: skip
        try:
            deadline = time.monotonic() + self.start_timeout
            for port in self.ports:
                wait_port(port, max(0.1, deadline - time.monotonic()), proc=self.proc)
        except BaseException as e:
            self.stop()
            if isinstance(e, Exception):
                raise MitmdumpError(f"mitmdump did not start ({e}):\n{self.output()}") from None
            raise
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15.0) -> int | None:
        """Signal, wait up to `timeout` s, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        try:
            stop_process(self.proc, sig, timeout)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
        return self.proc.returncode

    def __enter__(self) -> Mitmdump:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
