"""`python -m aispendtrack_dev.bench --quick` works end to end.

No speed targets here (they live in scripts/bench); the one timing checked is relative,
within a run: a streamed response's first byte comes well before its last (not buffered),
measured from the first body byte to the last, so the proxy's cost before the first byte
(slow on a loaded machine) cannot pass for buffering.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aispendtrack_dev.bench.load import percentile
from aispendtrack_dev.bench.profiling import summarise_collapsed
from aispendtrack_dev.bench.scenarios import WORKLOADS


# The benchmark harness lives outside the package, in tools/; the caller's PYTHONPATH stays
# after it (scripts/test-dates puts its time.sleep mend there).
TOOLS_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(Path(__file__).resolve().parents[2] / "tools"), os.environ.get("PYTHONPATH")) if p)}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "aispendtrack_dev.bench", "--quick", "--json", str(out)],
        capture_output=True, text=True, timeout=180, env=TOOLS_ENV,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


@pytest.mark.slow
def test_every_scenario_ran_without_errors(quick):
    data, _ = quick
    got = {(s["workload"], s["concurrency"], s["config"]) for s in data["scenarios"]}
    want = {(w, c, cfg) for w, spec in WORKLOADS.items() for c in (1, 8) for cfg in spec["configs"]}
    assert got == want
    for s in data["scenarios"]:
        assert s["ok"] > 0, s
        assert s["errors"] == 0, s


@pytest.mark.slow
def test_addon_requests_went_through_auth_and_into_the_ledger(quick):
    data, _ = quick
    checks = data["checks"]
    for config in ("addon", "addon+limits", "addon+budget"):
        c = checks[config]
        assert c["requests_sent"] > 0
        assert c["fake_received"] == c["requests_sent"]
        assert c["fake_saw_key_header"] == 0  # the addon stripped x-aispendtrack-key
        assert c["ledger_rows"] == c["requests_sent"]
        assert c["ledger_forwarded"] == c["requests_sent"]
        assert c["ledger_priced"] == c["requests_sent"]  # metered and priced, streams included
        assert c["ledger_streamed"] == c["streamed_sent"] > 0
    assert all(c["ok"] for c in checks.values())


@pytest.mark.slow
def test_streams_are_not_buffered_except_by_plain_mitmdump(quick):
    data, _ = quick
    for s in data["scenarios"]:
        if s["workload"] != "sse":
            continue
        assert s["ttfb_p50_ms"] < s["p50_ms"]
        # the fake sends its events over this long (5 gaps of 20 ms): a streaming proxy keeps
        # the first event that far ahead of the last, a buffering one delivers them together
        assert s["stream_span_ms"] >= 50, s
        if s["config"] == "bare":
            # plain mitmdump buffers SSE: the first byte comes with the last (the measure sees it)
            assert s["first_event_before_end"] <= 0.2 and s["spread_p50_ms"] < 0.5 * s["stream_span_ms"], s
            continue
        # a buffering proxy scores 0; a proxy starved for tens of ms mid-stream can bunch a few events
        assert s["first_event_before_end"] >= 0.8, s
        assert s["spread_p50_ms"] >= 0.5 * s["stream_span_ms"], s


@pytest.mark.slow
def test_report_shows_targets_and_micro_costs(quick):
    data, out = quick
    assert {r["variant"] for r in data["ratios"]} == {"addon", "addon+limits", "addon+budget"}
    assert {r["base"] for r in data["ratios"] if r["variant"] == "addon+budget"} == {"bare", "bare-stream",
                                                                                     "addon+limits"}
    assert "throughput ≥ 0.95× bare" in out
    micro = data["micro"]
    assert micro["limiter_1proc"]["us"] > 0
    assert micro["ledger_write"]["us"] > 0
    assert micro["report"]["ms"] > 0 and micro["report"]["calls_in_report"] > 0


@pytest.mark.slow
def test_serve_was_hammered_next_to_the_proxy(quick):
    data, out = quick
    sv = data["serve"]
    for phase in ("me", "me_during_proxy", "proxy_idle", "proxy_loaded"):
        assert sv[phase]["ok"] > 0, (phase, sv[phase])
        assert sv[phase]["errors"] == 0, (phase, sv[phase])  # every /v1/me answered 200
        assert sv[phase]["p95_ms"] >= sv[phase]["p50_ms"] > 0
    assert sv["proxy_rps_ratio"] > 0
    assert "Account plane" in out and "serve hammered ÷ serve idle" in out
    # the proxy cells of this part went through the addon too: counted in the harness checks
    loaded = [c for c in data["raw"] if c["config"] == "addon+limits"]
    assert data["checks"]["addon+limits"]["requests_sent"] > sum(c["sent_total"] for c in loaded)


def test_percentile_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([5.0], 99) == 5.0


def test_profile_summary_filters_idle_waits():
    text = "\n".join([
        "<module> (mitmdump:8);Handle._run (asyncio/events.py:84);Auth.requestheaders (aispendtrack/auth.py:60) 30",
        "<module> (mitmdump:8);BaseEventLoop._run_once (asyncio/base_events.py:1971);"
        "EpollSelector.select (selectors.py:468) 1000",
        "Thread._bootstrap (threading.py:1030);Thread._bootstrap_inner (threading.py:1073);Thread.run (threading.py:1010);"
        "LedgerWriter._run (aispendtrack/ledger.py:1);LedgerWriter._insert (aispendtrack/ledger.py:2) 10",
    ])
    s = summarise_collapsed(text, rate=100, requests=10)
    assert s["busy_samples"] == 40 and s["idle_samples"] == 1000
    assert s["event_loop_us_per_req"] == 30_000.0
    assert s["top_aispendtrack_inclusive"][0]["function"] == "Auth.requestheaders (aispendtrack/auth.py)"
