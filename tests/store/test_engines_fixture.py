"""The engine fixtures themselves: a PostgreSQL test that cannot get its server fails with
the reason (CI must run it), never skips."""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_postgres_tests_fail_with_the_reason_when_no_server_starts(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "import aispendtrack_dev.pgserver as pgserver\n"
        "def _missing():\n"
        "    raise pgserver.PgUnavailable('PostgreSQL is not installed (here on purpose)')\n"
        "pgserver.bindir = _missing\n"
        "pytest_plugins = ('engines',)\n")
    (tmp_path / "test_both.py").write_text("def test_both(store_target):\n    assert store_target\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent / "tools")])}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "1 passed, 1 error" in out, out  # sqlite ran; postgres failed in its set-up
    assert "PostgreSQL could not be started for the tests that need it (PgUnavailable): " \
           "PostgreSQL is not installed (here on purpose)" in out, out
    assert "skipped" not in out, out
