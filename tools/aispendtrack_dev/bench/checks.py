"""Harness checks: every request sent reached the fake, without the key header, and
(addon configurations) left exactly one forwarded ledger row.

A benchmark whose requests were rejected or short-circuited would measure the wrong
thing fast; these counts prove the measured path is the real one.
"""

from __future__ import annotations

import json
import socket
import time

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
    return ledger_counts_at(setup.db_path, {config: k.id for config, k in setup.keys.items()})


def ledger_counts_at(target, key_ids: dict[str, str]) -> dict:
    """Per name: the ledger rows of its key id (forwarded, priced, streamed, metered), read
    through the store, so a SQLite file and a PostgreSQL database are checked alike."""
    from aispendtrack.store import open_store

    sql = ("SELECT COUNT(*), SUM(CASE WHEN outcome = 'forwarded' THEN 1 ELSE 0 END), "
           "SUM(CASE WHEN pricing = 'priced' THEN 1 ELSE 0 END), SUM(streamed), "
           "SUM(CASE WHEN input_tokens IS NOT NULL THEN 1 ELSE 0 END) FROM calls WHERE key_id = ?")
    out = {}
    with open_store(target, migrate_schema=False) as store, store.connection() as conn:
        for name, key_id in key_ids.items():
            row = conn.execute(sql, [key_id]).fetchone()
            out[name] = dict(zip(["rows", "forwarded", "priced", "streamed", "metered"], [int(v or 0) for v in row]))
    return out


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
