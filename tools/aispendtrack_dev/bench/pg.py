"""The bench's PostgreSQL: one throwaway server per run, started on first use, durable.

`PgServer(fsync=True)` (tools/aispendtrack_dev/pgserver.py: Debian's PostgreSQL, initdb in a
temporary directory under /tmp, on disk, never a tmpfs) with PostgreSQL's defaults otherwise
(`synchronous_commit = on`): a commit the bench reports waited for its disk flush, as on a
team's server. Every part that needs one (the gateways, the admission costs) gets its own
database on it. `cpu_seconds()` is the server's CPU (postmaster and every backend), so a part
can say what PostgreSQL itself spent per request.
"""

from __future__ import annotations

from pathlib import Path

from aispendtrack_dev.bench.procs import CLK_TCK

SETTINGS = {"fsync": "on", "synchronous_commit": "on"}  # stated, so the report can show them


class BenchPg:
    def __init__(self) -> None:
        self.server = None
        self.error: str | None = None

    def get(self):
        """The running server (started now if needed); raises with the reason when it cannot start."""
        if self.server is None:
            from aispendtrack_dev.pgserver import PgServer

            self.server = PgServer(fsync=True, settings=SETTINGS).start()
        return self.server

    def database(self) -> str:
        """A new, empty database on the server: its URL (no password: the server trusts loopback)."""
        return self.get().create_database()

    def describe(self) -> str:
        s = self.get()
        return f"PostgreSQL {s.bin.parent.name} on {s.root} (disk), " + ", ".join(f"{k}={v}" for k, v in SETTINGS.items())

    def cpu_seconds(self) -> float:
        """utime + stime of the postmaster and its children (backends, WAL writer, checkpointer)."""
        if self.server is None:
            return 0.0
        try:
            master = int((self.server.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return float("nan")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat.parent.name) == master or int(fields[1]) == master:
                total += int(fields[11]) + int(fields[12])
        return total / CLK_TCK

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
