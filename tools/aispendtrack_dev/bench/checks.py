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
    from aispendtrack_dev.bench.fake import STATS_PATH

    with socket.create_connection(("127.0.0.1", setup.fake.port), timeout=5) as s:
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
    import sqlite3

    conn = sqlite3.connect(f"file:{setup.db_path}?mode=ro", uri=True, timeout=10)
    try:
        out = {}
        for config, k in setup.keys.items():
            row = conn.execute(
                "SELECT COUNT(*), SUM(outcome = 'forwarded'), SUM(pricing = 'priced'), SUM(streamed), "
                "SUM(input_tokens IS NOT NULL) FROM calls WHERE key_id = ?", [k.id]).fetchone()
            out[config] = dict(zip(["rows", "forwarded", "priced", "streamed", "metered"], [v or 0 for v in row]))
        return out
    finally:
        conn.close()


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
