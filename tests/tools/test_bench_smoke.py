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
    assert "throughput ≥ 0.75× bare" in out and "added p50 ≤ 0.6 ms at c=1" in out
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


def run_bench(tmp_path_factory, *args: str, timeout: float = 180) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "aispendtrack_dev.bench", "--quick", *args, "--json", str(out)],
                          capture_output=True, text=True, timeout=timeout, env=TOOLS_ENV)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The gateways and admission parts alone: 1 and 2 gateways on SQLite and on PostgreSQL."""
    return run_bench(tmp_path_factory, "--no-load", "--no-micro", "--gateways", "1,2", "--admissions")


@pytest.mark.slow
def test_gateways_on_one_store_next_to_bare_mitmdump(stores):
    data, out = stores
    gw = data["gateways"]
    assert {(r["gateways"], r["kind"]) for r in gw["rows"]} == {(n, k) for n in (1, 2)
                                                               for k in ("bare", "sqlite", "postgres")}
    for r in gw["rows"]:
        assert r["ok"] > 0 and r["errors"] == 0, r
        assert r["p99_ms"] >= r["p50_ms"] > 0
        assert (r["rps_ratio"] is None) == (r["kind"] == "bare")
        assert (r["db_cpu_us_per_req"] is not None) == (r["kind"] == "postgres")
    # the two gateways of N=2 each got their own c=8 connections, and each one's requests were counted
    two = [c for c in gw["raw"] if c["gateways"] == 2 and c["repeat"] >= 0]
    assert all(len(c["per_target"]) == 2 and all(t["ok_total"] > 0 for t in c["per_target"]) for c in two)
    for kind in ("sqlite", "postgres"):
        c = gw["checks"][kind]
        assert c["requests_sent"] > 0 and c["ok"], c
        assert c["ledger_rows"] == c["ledger_forwarded"] == c["ledger_priced"] == c["requests_sent"]
    assert gw["checks"]["bare"]["fake_received"] == gw["checks"]["bare"]["requests_sent"] > 0
    assert "fsync=on" in gw["database"] and "synchronous_commit=on" in gw["database"]
    assert "Gateways on one store" in out


@pytest.mark.slow
def test_admissions_durable_and_fast_on_postgresql(stores):
    data, out = stores
    modes = data["admissions"]["modes"]
    assert set(modes) == {"sqlite", "postgres durable", "postgres fast"}
    for mode, e in modes.items():
        assert e["admission"]["us"] > 0 and e["admission"]["p99_us"] >= e["admission"]["p50_us"] > 0, mode
        assert e["hot_key"]["per_s"] > 0 and e["hot_key"]["admitted"] > 0, mode
    for mode in ("sqlite", "postgres durable"):
        assert modes[mode]["ledger_row"]["us"] > 0 and modes[mode]["ledger_row"]["mean_batch"] >= 1
    assert "one hot key" in out


@pytest.mark.slow
def test_baseline_commit_runs_interleaved_in_a_worktree_that_goes_away(tmp_path_factory):
    repo = Path(__file__).resolve().parents[2]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    data, out = run_bench(tmp_path_factory, "--workloads", "json", "--concurrency", "1", "--no-serve", "--no-micro",
                          "--baseline", "HEAD")
    assert data["baseline"]["sha"] == head and "same dependencies" in data["baseline"]["venv"]
    configs = [c["config"] for c in data["raw"]]
    for variant in ("addon", "addon+limits", "addon+budget"):
        assert configs.count("base:" + variant) == configs.count(variant) == 1
        c = data["checks"]["base:" + variant]  # through the other checkout's addon, into its own ledger
        assert c["ok"] and c["ledger_rows"] == c["ledger_forwarded"] == c["requests_sent"] > 0, c
        assert {(r["base"], r["variant"]) for r in data["ratios"]} >= {("bare", "base:" + variant),
                                                                       ("base:" + variant, variant)}
    assert "Before/after" in out
    worktrees = subprocess.run(["git", "-C", str(repo), "worktree", "list", "--porcelain"], capture_output=True,
                               text=True, check=True).stdout
    assert "aispendtrack-bench-" not in worktrees  # the temporary checkout is gone, with git's record of it


@pytest.mark.slow
def test_account_plane_next_to_a_trivial_endpoint_and_report_by_model_and_provider(tmp_path_factory):
    data, out = run_bench(tmp_path_factory, "--no-load", "--no-micro", "--plane")
    pl = data["plane"]
    assert pl["rows"] == 20_000 and 0 < pl["account_rows"] < pl["rows"]
    assert set(pl["endpoints"]) == {"trivial", "trivial (def)", "/v1/me", "dashboard"}
    for name, e in pl["endpoints"].items():
        assert e["ok"] > 0 and e["errors"] == 0, (name, e)  # every answer a 200 with its whole body
        assert e["p99_ms"] >= e["p50_ms"] > 0
    for name in ("/v1/me", "dashboard"):  # paired per repeat with the trivial endpoint
        e = pl["endpoints"][name]
        assert e["share"] == pytest.approx(e["rps"] / pl["endpoints"]["trivial"]["rps"], rel=1e-6)
        assert set(e["meets"]) == {"share", "p50"}
    # (the bench refuses to measure a dashboard cell answered with the login form, also a 200)
    assert pl["first_render_ms"] > 0
    for by in ("model", "provider"):
        assert pl["report"][by]["calls"] == pl["rows"] and pl["report"][by]["groups"] > 1
    assert "Account plane over a 20,000-row ledger" in out and "by provider" in out


def test_a_baseline_reuses_this_venv_only_for_the_same_dependencies():
    from aispendtrack_dev.bench.baseline import dependencies

    ours = '[project]\ndependencies = ["a==1", "b==2"]\n[project.optional-dependencies]\ndemo = ["c==3"]\n'
    same = '[project]\ndependencies = ["b==2", "a==1"]\n[project.optional-dependencies]\ndemo = ["c==3"]\n' \
           '[tool.pytest.ini_options]\nmarkers = ["x"]\n'
    assert dependencies(ours) == dependencies(same)
    assert dependencies(ours) != dependencies(ours.replace("a==1", "a==1.1"))
    assert dependencies(ours) != dependencies(ours.replace('demo = ["c==3"]', 'demo = ["c==3", "d"]'))


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
