"""Installed with pip (not editable), used from another directory: `aispendtrack addon-path`,
`aispendtrack run`, defaults from the user's side (./mitm.toml, the user data directory).

The fresh virtualenv gets the package only; its dependencies are the test environment's
(a path entry to its site-packages, which processes none of its `.pth` files, so the
checkout's editable `src/` stays out of reach). Only setuptools comes from the index.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx2
import pytest

from support.harness import REPO, free_port, wait_port


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("installed")
    source = tmp / "source"  # a copy: building in the checkout would leave build/ behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", str(source)], check=True, timeout=300)  # fmt: skip
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True).strip())
    (site / "test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # what mitmproxy's own installation would put next to the interpreter
    mitmdump = venv / "bin" / "mitmdump"
    mitmdump.write_text(f"#!{python}\nimport sys\nfrom mitmproxy.tools.main import mitmdump\nsys.exit(mitmdump())\n")
    mitmdump.chmod(0o755)
    return venv


@pytest.fixture
def elsewhere(tmp_path) -> tuple[Path, dict[str, str]]:
    """A working directory outside the checkout, a home of its own, no AISPENDTRACK_* variables."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISPENDTRACK_") and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY")}
    env |= {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data"), "NO_COLOR": "1"}
    return cwd, env


def aispendtrack(venv: Path, cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "aispendtrack"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_the_installed_package_is_the_one_used(venv, elsewhere):
    cwd, env = elsewhere
    code = "import aispendtrack, importlib.util as u; print(aispendtrack.__file__); print(u.find_spec('aispendtrack_dev'))"
    out = subprocess.check_output([str(venv / "bin" / "python"), "-c", code], cwd=cwd, env=env, text=True)
    assert out.splitlines()[0].startswith(str(venv)), out
    assert out.splitlines()[1] == "None", "development tooling does not ship"
    package = Path(out.splitlines()[0]).parent
    shipped = {p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    assert {"entry/aispendtrack_addon.py", "demo/fake/server.py"} <= shipped, "the demo's fake provider ships"
    assert not [p for p in shipped if "bench" in p or "synth" in p]


def test_addon_path_and_run_help(venv, elsewhere):
    cwd, env = elsewhere
    r = aispendtrack(venv, cwd, env, "addon-path")
    assert r.returncode == 0, r.stderr
    entry = Path(r.stdout.strip())
    assert entry.is_file() and str(entry).startswith(str(venv)) and REPO not in entry.parents
    r = aispendtrack(venv, cwd, env, "run", "--help")
    assert r.returncode == 0 and "MITMDUMP_ARGS go to mitmdump" in r.stdout, r.stderr
    assert not (Path(env["XDG_DATA_HOME"]) / "aispendtrack").exists(), "--help creates no database"


def while_running(venv: Path, cwd: Path, env: dict, tmp_path: Path, args: list[str], during):
    """`aispendtrack run ARGS` from `cwd` while `during(proc)` runs, then Ctrl-C:
    (what `during` returned, everything run printed)."""
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen([str(venv / "bin" / "aispendtrack"), "run", "--set", f"confdir={tmp_path / 'conf'}", *args],
                            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        result = during(proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(20)
        log.seek(0)
        out = log.read()
    return result, out


def test_run_from_another_directory_answers_401_without_a_key(venv, elsewhere, fake, tmp_path):
    cwd, env = elsewhere
    port = free_port()
    (cwd / "mitm.toml").write_text(f'[proxy]\nmodes = ["reverse:{fake.url}@{port}"]\n'
                                   f'[serve]\nlisten = "127.0.0.1:{free_port()}"\n')

    def call(proc):
        wait_port(port, timeout=60, proc=proc)
        return httpx2.get(f"http://127.0.0.1:{port}/v1/models", timeout=10)

    r, out = while_running(venv, cwd, env, tmp_path, [], call)
    assert r.status_code == 401 and "missing x-aispendtrack-key" in r.text, out
    assert fake.received == [], "a refused call never reaches the provider"
    db = Path(env["XDG_DATA_HOME"]) / "aispendtrack" / "aispendtrack.db"
    assert db.is_file(), out
    assert f"AiSpendTrack: config {cwd / 'mitm.toml'}, database {db}" in out
    assert re.search(r"^ask_[A-Za-z0-9]{32}$", out, re.M), "first run printed the new key"


def test_run_from_an_empty_directory_starts_serve_on_the_built_in_defaults(venv, elsewhere, fake, tmp_path):
    """No config anywhere: serve used to get `--config None` and die with `None: config file not found`."""
    import socket

    cwd, env = elsewhere
    serve_port = 8090  # the built-in default: no config file can move it here
    deadline = time.monotonic() + 15  # a serve another test started may still be on its way out
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", serve_port)) != 0:
                break
        if time.monotonic() > deadline:
            pytest.skip("something else listens on 127.0.0.1:8090")
        time.sleep(0.2)
    port = free_port()

    def call(proc):
        wait_port(port, timeout=60, proc=proc)
        wait_port(serve_port, timeout=60)
        return httpx2.get(f"http://127.0.0.1:{serve_port}/openapi.json", timeout=20)

    r, out = while_running(venv, cwd, env, tmp_path, ["--mode", f"reverse:{fake.url}@{port}"], call)
    assert "config file not found" not in out, out
    assert r.status_code == 200, out
    assert "AiSpendTrack: config built-in defaults (no mitm.toml)" in out
    assert f"AiSpendTrack serve: http://127.0.0.1:{serve_port}" in out
    assert not list(cwd.iterdir()), "nothing written into the directory it was started from"
