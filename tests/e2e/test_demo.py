"""`aispendtrack demo` end to end: a real subprocess, as a newcomer or CI would run it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aispendtrack.cli.main import cli
from aispendtrack.store import keys
from aispendtrack.demo import redact, session_summary

REPO = Path(__file__).resolve().parents[2]
KEY_RE = re.compile(r"ask_[A-Za-z0-9]{32}")

SCENARIOS = [
    "OpenAI chat (non-streamed)",
    "OpenAI chat (streamed)",
    "OpenAI Responses API",
    "OpenAI embeddings",
    "Anthropic messages (non-streamed, prompt cache)",
    "Anthropic messages (streamed, prompt cache)",
    "missing key → 401",
    "rotated key: old and new both work during grace",
    "revoked key → 401",
    "rate limit: free tier, 3 requests/hour → 429",
    "unknown model → unpriced",
    "report totals",
]


def run_demo(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("AISPENDTRACK_DB", "AISPENDTRACK_CONFIG")}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "aispendtrack.cli.main", "demo", *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    keep = tmp_path_factory.mktemp("demo") / "kept"
    return run_demo("--keep", str(keep)), keep


def test_demo_exits_zero(demo_run):
    proc, _ = demo_run
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_demo_mentions_every_scenario_as_passed(demo_run):
    out = demo_run[0].stdout
    for name in SCENARIOS:
        assert f"✓ {name}" in out, name
    assert "✗" not in out


def test_demo_shows_401_429_unpriced_and_report_totals(demo_run):
    out = demo_run[0].stdout
    assert re.search(r"401 AuthenticationError: AiSpendTrack: missing x-aispendtrack-key", out)
    assert re.search(r"401 AuthenticationError: AiSpendTrack: key key_[0-9a-f]{12} was revoked", out)
    assert re.search(r"call 4 → 429 RateLimitError, retry-after \d+ s", out)
    assert "unpriced (cost unknown, not $0" in out
    assert re.search(r"✓ report totals → \d+ calls, \$[\d.]+ for \d+ priced calls, 1 unpriced, 2 rejected \(401\), "
                     r"1 rate-limited \(429\)", out)  # fmt: skip
    assert "aispendtrack report (demo database)" in out
    assert re.search(r"All \d+ steps behaved as expected", out)


def test_demo_never_prints_a_plaintext_key(demo_run):
    proc, _ = demo_run
    assert not KEY_RE.search(proc.stdout + proc.stderr)
    assert re.search(r"ask_…[A-Za-z0-9]{4}", proc.stdout)  # hints are shown instead


def test_demo_output_has_no_colour_in_a_pipe(demo_run):
    assert "\x1b[" not in demo_run[0].stdout


def test_demo_keep_leaves_its_own_database_and_config(demo_run):
    _, keep = demo_run
    assert (keep / "aispendtrack.db").is_file()
    assert "requests_per_hour = 3" in (keep / "mitm.toml").read_text()


def test_demo_keep_refuses_a_directory_with_a_demo_in_it(demo_run):
    _, keep = demo_run
    proc = run_demo("--keep", str(keep), timeout=60)
    assert proc.returncode != 0
    assert "already holds a demo database" in proc.stderr


def test_redact_replaces_keys_with_hints():
    key = keys.generate_key()
    assert redact(f"bad key {key}!") == f"bad key {keys.hint(key)}!"


def test_session_summary_is_cut_before_tracebacks():
    out = "listening\n╭─ aispendtrack: this session ─╮\n│ cost $1 │\n╰──╯\nTraceback (most recent call last):\n  boom\n"
    assert session_summary(out) == "╭─ aispendtrack: this session ─╮\n│ cost $1 │\n╰──╯"
    assert session_summary("[10:00:00.000] session: 3 calls (3 forwarded)\ncost: $1").startswith("[10:00")
    assert session_summary("nothing here") == ""


@pytest.mark.parametrize("absent", [["openai"], ["anthropic"], ["openai", "anthropic"]])
def test_demo_without_the_sdks_says_how_to_install_them(monkeypatch, tmp_path, absent):
    for name in absent:
        monkeypatch.setitem(sys.modules, name, None)  # import and find_spec both see it as absent
    result = CliRunner().invoke(cli, ["demo", "--keep", str(tmp_path / "demo")])
    assert result.exit_code == 1
    assert "pip install 'aispendtrack[demo]'" in result.output and ", ".join(absent) in result.output
    assert not (tmp_path / "demo").exists(), "nothing started"


def _normalised(line: str) -> str:
    for pattern, repl in ((r"ask_…[A-Za-z0-9]{4}", "ask_…HINT"), (r"key_[0-9a-f]{12}", "key_ID"),
                          (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"), (r"\d{4}-\d\d-\d\dT[\d:]+Z", "TIME"),
                          (r"Working directory: .*", "Working directory: DIR"),
                          (r" Database and config kept in .*", "")):  # this run used --keep
        line = re.sub(pattern, repl, line)
    return line.rstrip()


def test_readme_shows_what_the_demo_really_prints(demo_run):
    readme = (REPO / "README.md").read_text()
    block = readme.split("What `aispendtrack demo` printed", 1)[1].split("```\n", 2)[1]
    shown = [_normalised(line) for line in block.splitlines() if line.strip() and not line.startswith("…")]
    real = [_normalised(line) for line in demo_run[0].stdout.splitlines()]
    missing = [line for line in shown if line not in real]
    assert not missing, missing
    assert [real.index(line) for line in shown] == sorted(real.index(line) for line in shown)
