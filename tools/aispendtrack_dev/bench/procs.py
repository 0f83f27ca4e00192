"""Child processes of the bench: spawn, wait for, talk to and stop them.

Every child runs in its own session (Ctrl-C reaches the bench only, which then stops
the children in order) and gets SIGTERM if the bench dies, even by SIGKILL (Linux).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aispendtrack import launch

REPO = Path(__file__).resolve().parents[3]  # the checkout: the bench is development tooling
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _pdeathsig() -> None:
    """Child side: get SIGTERM when the bench process dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path | None = None
    port: int | None = None
    _log: Any = None

    def cpu_seconds(self) -> float:
        """utime + stime of the process (all its threads)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            return float("nan")

    def output(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-4000:]
        return ""

    def stop(self, timeout: float = 15) -> None:
        p = self.proc
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGINT)  # mitmdump: orderly shutdown (ledger flushed)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for stream in (p.stdin, p.stdout):
            with contextlib.suppress(Exception):
                if stream:
                    stream.close()
        if self._log:
            self._log.close()
            self._log = None


class Children:
    def __init__(self) -> None:
        self.items: list[Child] = []

    def spawn(self, name: str, argv: list[str], *, log_path: Path | None = None, pipes: bool = False,
              port: int | None = None, cwd: Path | None = None) -> Child:
        env = {k: v for k, v in os.environ.items() if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
        env["PYTHONUNBUFFERED"] = "1"
        logf = open(log_path, "wb") if log_path else None
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else (logf or subprocess.DEVNULL),
            stderr=logf or None, env=env, cwd=str(cwd) if cwd else None,
            start_new_session=True,  # Ctrl-C reaches the bench only; it stops the children in order
            preexec_fn=_pdeathsig,
        )
        child = Child(name, proc, log_path, port, logf)
        self.items.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.items):
            with contextlib.suppress(Exception):
                child.stop()
        self.items.clear()


def wait_port(port: int, child: Child, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.proc.returncode}:\n{child.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{child.name}: nothing listening on 127.0.0.1:{port}\n{child.output()}")


def read_line(child: Child, timeout: float) -> str:
    """One stdout line of a piped child, or an error after `timeout` seconds."""
    assert child.proc.stdout is not None
    fd = child.proc.stdout
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{child.name}: no answer within {timeout:.0f} s")
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            line = fd.readline()
            if not line:
                raise RuntimeError(f"{child.name} exited (code {child.proc.poll()})")
            return line.decode()
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited (code {child.proc.returncode})")


def mitmdump_argv(name: str, upstream: str, port: int, confdir: Path, *, addon: dict | None = None,
                  extra: list[str] | None = None) -> list[str]:
    """`addon`: {"config", "db"}, and optionally the "entry" file and the "mitmdump" program of
    another checkout (`--baseline`)."""
    options = {"listen_host": "127.0.0.1", "confdir": confdir, "connection_strategy": "lazy",
               "flow_detail": 0, "termlog_verbosity": "warn"}
    if addon:
        options |= {"aispendtrack_config": addon["config"], "aispendtrack_db": addon["db"]}
    return launch.mitmdump_argv([f"reverse:{upstream}@{port}"], options=options, args=extra or [],
                                entry=(addon.get("entry") or launch.ENTRY) if addon else None,
                                program=(addon or {}).get("mitmdump") or launch.MITMDUMP)
