"""mitmdump with the AiSpendTrack addon: its command line (one owner, for `aispendtrack run`,
the demo, the tests and the bench) and a subprocess helper (demo, tests).

    with Mitmdump(modes=["reverse:http://127.0.0.1:9000@{port}"], config_path=..., db_path=...,
                  workdir=tmp) as proxy:
        proxy.url(0)           # http://127.0.0.1:<port of the first listener>
    proxy.output()             # everything mitmdump printed (stdout + stderr)

Listeners are loopback only. `{port}` in a mode spec is replaced by a free port; `modes`
may also be a dict (name → spec), then `url(name)`. `stop()` sends SIGINT first (the
addon's `done` hook runs and prints its session summary), then SIGKILL after a bounded
wait; it is idempotent and safe to call from `finally`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from aispendtrack import paths

ENTRY = Path(__file__).resolve().parent / "entry" / "aispendtrack_addon.py"
MITMDUMP = Path(sys.executable).parent / "mitmdump"
LOOPBACK = "127.0.0.1"

# mitmproxy's own flags for options we may give a default for
_FLAGS = {"--mode": "mode", "-m": "mode", "--listen-host": "listen_host"}


def find_mitmdump() -> str | None:
    """mitmdump next to this Python (the same environment), else the one on PATH."""
    return shutil.which("mitmdump", path=str(MITMDUMP.parent)) or shutil.which("mitmdump")


def options_in(args: Sequence[str]) -> dict[str, str]:
    """Options a mitmdump command line sets itself (`--set name=value`, `--set=name=value`,
    `--mode`, `-m`, `--listen-host`): name → last value given."""
    found: dict[str, str] = {}
    for i, arg in enumerate(args):
        flag, eq, value = arg.partition("=")
        if not eq and i + 1 < len(args):
            value = args[i + 1]
        if flag == "--set":
            name, _, setting = value.partition("=")
            found[name] = setting
        elif flag in _FLAGS:
            found[_FLAGS[flag]] = value
        elif arg.startswith("-m") and not arg.startswith("--") and len(arg) > 2:
            found["mode"] = arg[2:]
    return found


def mitmdump_argv(
    modes: Sequence[str],
    *,
    options: Mapping[str, object] | None = None,
    args: Sequence[str] = (),
    entry: str | os.PathLike | None = ENTRY,
    program: str | os.PathLike = MITMDUMP,
) -> list[str]:
    """The mitmdump command line: `-s entry` (None: bare mitmdump), `--set name=value` for
    each of `options` (None values left out), `--mode` for each of `modes`, then `args`.
    An option that `args` set themselves replaces ours (mitmproxy refuses one given twice);
    a mode among them replaces all of `modes`."""
    given = options_in(args)
    argv = [str(program)]
    if entry is not None:
        argv += ["-s", str(entry)]
    for name, value in (options or {}).items():
        if value is not None and name not in given:
            argv += ["--set", f"{name}={value}"]
    if "mode" not in given:
        for mode in modes:
            argv += ["--mode", mode]
    return argv + list(args)


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
        modes: Sequence[str] | Mapping[str, str],
        config_path: str | os.PathLike,
        db_path: str | os.PathLike,
        workdir: str | os.PathLike,
        log_path: str | os.PathLike | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        start_timeout: float = 30.0,
    ):
        self.workdir = Path(workdir)
        named = dict(modes) if isinstance(modes, Mapping) else dict(enumerate(modes))
        self.ports = {name: free_port() for name in named}
        self.modes = [spec.replace("{port}", str(self.ports[name])) for name, spec in named.items()]
        self.config_path = Path(config_path)
        self.db_path = paths.db_path(db_path)  # a PostgreSQL URL stays a URL
        self.confdir = self.workdir / "mitmproxy-conf"
        self.log_path = Path(log_path) if log_path else self.workdir / "mitmdump.log"
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self._log = None

    def url(self, listener: int | str = 0) -> str:
        return f"http://{LOOPBACK}:{self.ports[listener]}"

    def argv(self) -> list[str]:
        options = {
            "listen_host": LOOPBACK, "confdir": self.confdir, "connection_strategy": "lazy",
            "aispendtrack_config": self.config_path, "aispendtrack_db": self.db_path,
        }  # fmt: skip
        return mitmdump_argv(self.modes, options=options, args=self.extra_args)

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
            for port in self.ports.values():
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
