"""Harness checks: every request sent reached the fake, without the key header, and
(addon configurations) left exactly one forwarded ledger row.

A benchmark whose requests were rejected or short-circuited would measure the wrong
thing fast; these counts prove the measured path is the real one.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import time

from aispendtrack_dev.bench.baseline import BASE_PREFIX
from aispendtrack_dev.bench.scenarios import Setup


def fake_stats(setup: Setup) -> dict:
    return fake_stats_at(setup.fake.port)


def fake_stats_at(port: int) -> dict:
    """The fake provider's tallies: requests per `x-bench-config`, and how many carried a key header."""
    from aispendtrack_dev.bench.fake import STATS_PATH

    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {STATS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def ledger_counts(setup: Setup) -> dict:
    ours = {config: k.id for config, k in setup.keys.items() if not config.startswith(BASE_PREFIX)}
    out = ledger_counts_at(setup.db_path, ours)
    if setup.base_db is not None:  # the --baseline commit's own database
        out |= ledger_counts_at(setup.base_db, {c: k.id for c, k in setup.keys.items() if c.startswith(BASE_PREFIX)})
    return out


COUNTS_SQL = ("SELECT COUNT(*), SUM(CASE WHEN outcome = 'forwarded' THEN 1 ELSE 0 END), "
              "SUM(CASE WHEN pricing = 'priced' THEN 1 ELSE 0 END), SUM(streamed), "
              "SUM(CASE WHEN input_tokens IS NOT NULL THEN 1 ELSE 0 END) FROM calls WHERE key_id = ?")


def ledger_counts_at(target, key_ids: dict[str, str]) -> dict:
    """Per name: the ledger rows of its key id (forwarded, priced, streamed, metered). A
    PostgreSQL URL is read through the store; a SQLite file read-only with sqlite3, whatever
    its schema version (a --baseline commit's file is not this tree's to migrate)."""
    from aispendtrack.store import is_url, open_store

    with contextlib.ExitStack() as stack:
        if is_url(target):
            store = stack.enter_context(open_store(target, migrate_schema=False))
            conn = stack.enter_context(store.connection())
        else:
            conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=10)
            stack.callback(conn.close)
        rows = {name: conn.execute(COUNTS_SQL, [key_id]).fetchone() for name, key_id in key_ids.items()}
    return {name: dict(zip(["rows", "forwarded", "priced", "streamed", "metered"], [int(v or 0) for v in row]))
            for name, row in rows.items()}


def checks(setup: Setup, cells: list[dict]) -> dict:
    sent: dict[str, int] = {}
    streamed_sent: dict[str, int] = {}
    for c in cells:
        sent[c["config"]] = sent.get(c["config"], 0) + c["sent_total"]
        if c["stream"]:
            streamed_sent[c["config"]] = streamed_sent.get(c["config"], 0) + c["sent_total"]
    tally = fake_stats(setup)
    ledger = ledger_counts(setup)
    out: dict = {}
    for config, n in sent.items():
        t = tally.get(config, {"requests": 0, "with_key_header": 0})
        entry = {"requests_sent": n, "fake_received": t["requests"], "fake_saw_key_header": t["with_key_header"]}
        if config in ledger:
            entry.update({f"ledger_{k}": v for k, v in ledger[config].items()})
            entry["streamed_sent"] = streamed_sent.get(config, 0)
        ok = entry["fake_received"] == n and entry["fake_saw_key_header"] == 0
        if config in ledger:
            ok = ok and entry["ledger_rows"] == n and entry["ledger_forwarded"] == n
        entry["ok"] = ok
        out[config] = entry
    return out
