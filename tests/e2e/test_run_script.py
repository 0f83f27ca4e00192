"""`scripts/run` (= `aispendtrack run`): first-run key, configured listeners, `--mode`
replacing them, a `--set` overriding the same option from the config."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx2
import openai
import pytest

from support.harness import REPO, free_port, wait_port


def start_run(tmp_path, fake, port, *args, upstream=None, serve_port=None):
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[proxy]\nmodes = ["reverse:{upstream or fake.url}@{port}"]\n'
                   f'[serve]\nlisten = "127.0.0.1:{serve_port or free_port()}"\n')
    env = {**os.environ, "AISPENDTRACK_CONFIG": str(cfg), "AISPENDTRACK_DB": str(tmp_path / "run.db")}
    log = open(tmp_path / f"run-{time.monotonic_ns()}.log", "w+")
    proc = subprocess.Popen([str(REPO / "scripts" / "run"), "--set", f"confdir={tmp_path / 'conf'}", *args],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(tmp_path))
    return proc, log


def stop(proc, log):
    proc.send_signal(signal.SIGINT)
    proc.wait(20)
    log.seek(0)
    return log.read()


def test_first_run_prints_a_working_key_once(tmp_path, fake):
    port = free_port()
    proc, log = start_run(tmp_path, fake, port)
    try:
        wait_port(port, timeout=120, proc=proc)
        log.seek(0)
        out = log.read()
        (key,) = re.findall(r"^ask_[A-Za-z0-9]{32}$", out, re.M)
        assert "default_headers" in out
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-x", max_retries=0,
                               default_headers={"x-aispendtrack-key": key})
        assert client.models.list()
    finally:
        stop(proc, log)
    proc, log = start_run(tmp_path, fake, port)
    try:
        wait_port(port, timeout=60, proc=proc)
    finally:
        out = stop(proc, log)
    assert not re.search(r"ask_[A-Za-z0-9]{32}", out), "the key is printed only on first run"


def test_mode_on_the_command_line_replaces_configured_modes(tmp_path, fake):
    configured, other = free_port(), free_port()
    proc, log = start_run(tmp_path, fake, configured, "--mode", f"reverse:{fake.url}@{other}")
    try:
        wait_port(other, timeout=120, proc=proc)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", configured)) != 0
    finally:
        stop(proc, log)


def test_broken_config_stops_start_up_with_one_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[tiers.free]\nrequests_per_hour = -5\n")
    env = {**os.environ, "AISPENDTRACK_CONFIG": str(cfg), "AISPENDTRACK_DB": str(tmp_path / "x.db")}
    r = subprocess.run([str(REPO / "scripts" / "run")], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert f"{cfg}: tiers.free.requests_per_hour:" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args, eager", [([], False), (["--set", "connection_strategy=eager"], True)])
def test_set_on_the_command_line_overrides_the_config(tmp_path, args, eager):
    """The config says lazy (no upstream connection for a refused call); `--set` makes it eager."""
    with socket.socket() as upstream:
        upstream.bind(("127.0.0.1", 0))
        upstream.listen()
        upstream.settimeout(3)
        port = free_port()
        proc, log = start_run(tmp_path, None, port, *args, upstream=f"http://127.0.0.1:{upstream.getsockname()[1]}")
        try:
            wait_port(port, timeout=120, proc=proc)
            r = httpx2.get(f"http://127.0.0.1:{port}/v1/models", timeout=10)
            try:
                upstream.accept()[0].close()
                connected = True
            except TimeoutError:
                connected = False
        finally:
            out = stop(proc, log)
    assert r.status_code == 401, out
    assert connected == eager, out
    assert "multiple values" not in out


def test_set_database_beats_the_environment(tmp_path, fake):
    port, db = free_port(), tmp_path / "chosen.db"
    proc, log = start_run(tmp_path, fake, port, "--set", f"aispendtrack_db={db}")
    try:
        wait_port(port, timeout=120, proc=proc)
    finally:
        out = stop(proc, log)
    assert db.exists() and not (tmp_path / "run.db").exists()
    assert re.search(r"^ask_[A-Za-z0-9]{32}$", out, re.M), "first run created the key in the chosen database"
    assert f"database {db}" in out


def start_with_serve(tmp_path, fake):
    """`start_run`, up to the moment the proxy and serve both listen: (proc, log, port, serve port)."""
    port, serve_port = free_port(), free_port()
    proc, log = start_run(tmp_path, fake, port, serve_port=serve_port)
    try:
        wait_port(port, timeout=120, proc=proc)
        wait_port(serve_port, timeout=60)
    except BaseException:
        stop(proc, log)
        raise
    return proc, log, port, serve_port


def test_run_starts_serve_and_stops_it_with_the_proxy(tmp_path, fake):
    proc, log, port, serve_port = start_with_serve(tmp_path, fake)
    try:
        with socket.create_connection(("127.0.0.1", serve_port)) as s:
            s.sendall(b"GET /openapi.json HTTP/1.0\r\n\r\n")
            assert s.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        out = stop(proc, log)
    assert f"http://127.0.0.1:{serve_port}" in out
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", serve_port), timeout=0.2).close()
            time.sleep(0.2)
        except OSError:
            return
    raise AssertionError("serve kept running after the proxy stopped")


def test_a_serve_address_in_use_stops_the_start_with_its_name(tmp_path, fake):
    """Before: the URL printed, uvicorn's `address already in use`, and a proxy without API."""
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        serve_port = taken.getsockname()[1]
        proc, log = start_run(tmp_path, fake, port, serve_port=serve_port)
        try:
            code = proc.wait(120)
        finally:
            out = stop(proc, log) if proc.poll() is None else (log.seek(0), log.read())[1]
    assert code == 2, out
    assert f"cannot listen on 127.0.0.1:{serve_port}" in out
    assert "[serve] listen" in out and "[serve] enabled = false" in out
    assert "Traceback" not in out
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the proxy did not start"
    assert not (tmp_path / "run.db").exists(), "nothing was started, not even the first-run key"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_serve_that_dies_later_is_reported_in_the_proxy_log(tmp_path, fake):
    proc, log, port, serve_port = start_with_serve(tmp_path, fake)
    try:
        (serve,) = [c for c in _children(proc.pid) if b"serve" in Path(f"/proc/{c}/cmdline").read_bytes()]
        os.kill(serve, signal.SIGKILL)
        deadline = time.monotonic() + 20
        expected = f"AiSpendTrack serve (http://127.0.0.1:{serve_port}) stopped (killed by SIGKILL)"
        while time.monotonic() < deadline and expected not in Path(log.name).read_text():
            time.sleep(0.1)
        r = httpx2.get(f"http://127.0.0.1:{port}/v1/models", timeout=10)
    finally:
        out = stop(proc, log)
    assert expected in out, out
    assert "webhook delivery are down" in out
    assert r.status_code == 401, "the proxy goes on"


def test_serve_started_without_a_config_file_runs_on_the_built_in_defaults(tmp_path, monkeypatch):
    """Installed, from an empty directory, no config resolves: serve used to get `--config None`."""
    from aispendtrack.cli.run import start_serve
    from aispendtrack.serve import listen

    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    with listen.bind("127.0.0.1", 0, None) as sock:
        serve = start_serve(sock, None, tmp_path / "x.db")
        serve_port = sock.getsockname()[1]
    try:
        wait_port(serve_port, timeout=60, proc=serve)
        r = httpx2.get(f"http://127.0.0.1:{serve_port}/openapi.json", timeout=20)
        assert r.status_code == 200
        assert "--config" not in Path(f"/proc/{serve.pid}/cmdline").read_bytes().decode().split("\0")
    finally:
        serve.terminate()
        serve.wait(20)
