"""A throwaway PostgreSQL server for tests and the benchmark, from Debian's `postgresql` package.

`initdb` into a temporary directory and `pg_ctl start` on a free loopback port. PostgreSQL
refuses to run as root, so as root the server runs as an unprivileged system user
(`aispendtrack-pg`, created on first use with `useradd`); the data directory is owned by it.
No Docker, nothing downloaded. `scripts/test` installs the package when it is missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

USER = "aispendtrack-pg"


class PgUnavailable(RuntimeError):
    """The PostgreSQL binaries are missing or the server would not start (message says why)."""


def bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise PgUnavailable("PostgreSQL is not installed (Debian package `postgresql`; scripts/test installs it)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_user() -> None:
    if subprocess.run(["id", "-u", USER], capture_output=True).returncode == 0:
        return
    done = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                          capture_output=True, text=True)
    if done.returncode not in (0, 9):  # 9: created meanwhile by another run
        raise PgUnavailable(f"cannot create the user {USER} to run PostgreSQL as: {done.stderr.strip()}")


class PgServer:
    """One PostgreSQL cluster: `start()`, `dsn(dbname)`, `create_database()`, `stop()`, `kill()`."""

    def __init__(self, *, fsync: bool = False, settings: dict[str, str] | None = None, directory: str = "/tmp"):
        """`directory`: where the cluster's temporary directory is made (a tmpfs such as
        /dev/shm makes `CREATE DATABASE` ten times faster than a busy disk)."""
        self.bin = bindir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="aispendtrack-pg-", dir=directory))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.settings = {"fsync": "on" if fsync else "off", "max_connections": "200",
                         "listen_addresses": "127.0.0.1", **(settings or {})}
        self._as = []
        if os.geteuid() == 0:
            _ensure_user()
            shutil.chown(self.root, USER, USER)
            self._as = ["runuser", "-u", USER, "--"]
        os.chmod(self.root, 0o755)

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True)
        if check and done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PgUnavailable(f"{Path(argv[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}\n{log}")
        return done

    def start(self) -> PgServer:
        if not self.data.exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "--no-sync", "-E", "UTF8", "--locale", "C")
        opts = " ".join([f"-p {self.port}", f"-k {self.root}", *(f"-c {k}={v}" for k, v in self.settings.items())])
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", opts, "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its DSN."""
        import psycopg

        name = name or "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._run(str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise PgUnavailable(f"PostgreSQL on port {self.port} not ready after {timeout} s")

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
