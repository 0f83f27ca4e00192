"""A real proxy and `serve` on one database, attacked through what they take in: ledger
values that a spreadsheet would run as formulas, account names in a download's header,
Host headers of a rebound DNS name, bodies too large or sent without a key, `expires` out
of range, and a disk that fills up under `serve`."""

from __future__ import annotations

import csv
import io
import json
import select
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection

import openai
import pytest

from aispendtrack.store import db as dbmod
from aispendtrack_dev.bench import dashboard as dashboard_bench

from support.harness import MITMDUMP, Serve, fill, http, proxy_and_serve

CLI = str(MITMDUMP.parent / "aispendtrack")
CONFIG = '[serve]\nallowed_hosts = ["dash.example.test"]\n'
FORMULAS = ['=HYPERLINK("http://evil.example/x","click")', "@SUM(1+1)", "+cmd|' /C calc'!A0", "-2+3"]
ODD_NAME = 'acmé中 "q";x\\y'


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-inputs")
    db_path = tmp / "aispendtrack.db"
    with proxy_and_serve(tmp, db_path, CONFIG) as (fake, proxy, serve):
        plane = {"db_path": db_path, "config_path": tmp / "mitm.toml", "proxy": proxy, "serve": serve, "tmp": tmp}
        plane["key"] = account_with_calls(plane, ODD_NAME)
        yield plane


def cli(plane, *args) -> str:
    return subprocess.run([CLI, "--config", str(plane["config_path"]), "--db", str(plane["db_path"]), *args],
                          check=True, capture_output=True, text=True).stdout


def account_with_calls(plane, account: str) -> str:
    """A pro account whose ledger holds one real call per hostile model name: its key."""
    cli(plane, "accounts", "create", account, "--tier", "pro")
    key = json.loads(cli(plane, "keys", "create", account, "--json"))["key"]
    client = openai.OpenAI(base_url=plane["proxy"].url("openai") + "/v1", api_key="sk-test", max_retries=0,
                           default_headers={"x-aispendtrack-key": key})
    for model in FORMULAS:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        database = dbmod.connect(plane["db_path"])
        try:
            n = database.execute("SELECT COUNT(*) FROM calls WHERE account = ?", [account]).fetchone()[0]
        finally:
            database.conn.close()
        if n == len(FORMULAS):
            return key
        time.sleep(0.05)
    raise AssertionError("the calls were not ledgered")


def models_in_csv(text: str) -> list[str]:
    return [row["model"] for row in csv.DictReader(io.StringIO(text))]


def login(plane, key: str) -> str:
    """A dashboard session cookie for `key`."""
    return "aispendtrack_session=" + dashboard_bench.login(plane["serve"].url, key)


def download(plane, cookie: str, fmt: str) -> tuple[int, dict, str]:
    req = urllib.request.Request(f"{plane['serve'].url}/dashboard/export.{fmt}", headers={"cookie": cookie})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


@pytest.mark.period
def test_every_csv_export_defuses_formulas_and_jsonl_keeps_them(plane):
    quoted = ["'" + m for m in FORMULAS]
    status, body = http("GET", plane["serve"].url + "/v1/calls?format=csv", plane["key"])
    assert status == 200 and models_in_csv(body.decode()) == quoted
    status, body = http("GET", plane["serve"].url + "/v1/calls?format=jsonl", plane["key"])
    assert [json.loads(line)["model"] for line in body.decode().splitlines()] == FORMULAS
    exported = cli(plane, "export", "--format", "csv", "--account", ODD_NAME)
    assert models_in_csv(exported) == quoted
    key = plane["key"]
    for _ in range(2):  # this month's rows: once more, with an account of new calls, if the month turned since
        status, headers, text = download(plane, login(plane, key), "csv")
        assert status == 200, text
        if models_in_csv(text):
            break
        key = account_with_calls(plane, f"{ODD_NAME[:40]} {datetime.now(UTC):%H%M%S}")
    assert models_in_csv(text) == quoted


@pytest.mark.period
def test_the_download_is_named_after_any_account_name(plane):
    """Quotes, `;`, `\\` and non-ASCII in the account name: a 500 before, a header injection risk."""
    cookie = login(plane, plane["key"])
    month = datetime.now(UTC)
    for fmt in ("csv", "jsonl"):
        status, headers, _ = download(plane, cookie, fmt)
        assert status == 200
        value = headers["content-disposition"]
        fallback, encoded = value.split('filename="', 1)[1].split('"; filename*=UTF-8\'\'')
        assert fallback.startswith("aispendtrack-acm") and not set(fallback) & set('"\\;') and fallback.isascii()
        name = urllib.parse.unquote(encoded, errors="strict")
        assert name in {f"aispendtrack-{ODD_NAME}-{m:%Y-%m}.{fmt}" for m in (month, datetime.now(UTC))}, name


def host_request(plane, host: str, path: str = "/") -> tuple[int, bytes]:
    conn = HTTPConnection("127.0.0.1", plane["serve"].port, timeout=20)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_a_host_header_of_another_name_is_refused(plane):
    """DNS rebinding: evil.example resolved to 127.0.0.1 reaches the port, but names itself."""
    port = plane["serve"].port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "dash.example.test", f"DASH.example.test:{port}"):
        assert host_request(plane, host)[0] == 200, host
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}",
                 f"dash.example.test.evil.example:{port}", f"localhost:{port + 1}"):
        status, body = host_request(plane, host, "/")
        assert status == 400 and json.loads(body)["error"]["type"] == "invalid_host", host
        assert host_request(plane, host, "/v1/me")[0] == 400


def raw(plane, head: str, body_chunks=(), wait: float = 5.0) -> bytes:
    """Send `head` (and `body_chunks` while no answer has come), then the answer as read
    within `wait` seconds: a server that waits for the whole body answers nothing."""
    with socket.create_connection(("127.0.0.1", plane["serve"].port), timeout=wait) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        for chunk in body_chunks:
            if select.select([s], [], [], 0)[0]:
                break  # answered already
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = b""
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
                got = s.recv(65536)
                if not got:
                    break
                answer += got
            while time.monotonic() < deadline and len(answer.split(b"\r\n\r\n", 1)[1]) < 40:
                got = s.recv(65536)
                if not got:
                    break
                answer += got
        except (TimeoutError, ConnectionResetError, IndexError):
            pass
        return answer


def post_head(plane, length: int | None, key: str | None, path: str = "/v1/keys") -> str:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{plane['serve'].port}", "Content-Type: application/json"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if key:
        lines.append(f"x-aispendtrack-key: {key}")
    return "\n".join(lines) + "\n"


def status_of(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def test_a_30_mb_body_is_answered_413_before_it_is_sent(plane):
    for key in (None, plane["key"]):
        answer = raw(plane, post_head(plane, 30 * 1024 * 1024, key))
        assert status_of(answer) == 413 and b'"request_too_large"' in answer, answer[:300]


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(plane):
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    answer = raw(plane, post_head(plane, None, plane["key"]), [chunk] * 64)
    assert status_of(answer) == 413 and b'"request_too_large"' in answer, answer[:300]


def test_the_key_is_checked_before_the_body_is_read(plane):
    """The body is never sent: a server that reads it first answers nothing in time."""
    for key in (None, "ask_" + "Z" * 32):
        answer = raw(plane, post_head(plane, 100_000, key))
        assert status_of(answer) == 401 and b'"invalid_api_key"' in answer, answer[:300]


@pytest.mark.parametrize("when, why", [
    (lambda now: now - timedelta(minutes=1), "in the past"),
    (lambda now: now.replace(year=9999), "more than 100 years ahead"),
])  # fmt: skip
def test_post_keys_refuses_expires_the_cli_refuses(plane, when, why):
    expires = when(datetime.now(UTC)).isoformat()
    status, body = http("POST", plane["serve"].url + "/v1/keys", plane["key"], {"name": "x", "expires": expires})
    assert status == 400 and why in json.loads(body)["error"]["message"]
    result = subprocess.run([CLI, "--db", str(plane["db_path"]), "keys", "create", ODD_NAME, "--expires", expires],
                            capture_output=True, text=True)
    assert result.returncode != 0 and why in result.stderr


def test_budget_numbers_out_of_range_are_a_clear_error(plane):
    for usd, why in (("1e309", "at most 1000000000 USD"), ("nan", "finite"), ("-1", ">= 0")):
        result = subprocess.run([CLI, "--db", str(plane["db_path"]), "accounts", "budget", ODD_NAME, "--usd", usd],
                                capture_output=True, text=True)
        assert result.returncode == 2 and why in result.stderr and "Traceback" not in result.stderr, result.stderr


# ---- a disk that fills up under serve ----------------------------------------------------


def test_a_full_disk_is_a_503_storage_unavailable_and_serve_recovers(plane, small_disk, tmp_path):
    copy = small_disk / "aispendtrack.db"
    source = dbmod.connect(plane["db_path"])
    try:
        source.conn.execute("VACUUM INTO ?", [str(copy)])
    finally:
        source.conn.close()
    key = plane["key"]
    with Serve(tmp_path, copy, plane["config_path"]) as serve:
        url = serve.url
        assert http("GET", url + "/v1/me", key)[0] == 200
        fill(small_disk)
        try:
            status, body = http("POST", url + "/v1/keys", key, {"name": "full"})
            assert status == 503 and json.loads(body)["error"]["type"] == "storage_unavailable", body
            assert "disk is full" in json.loads(body)["error"]["message"]
            form = urllib.parse.urlencode({"key": key}).encode()
            req = urllib.request.Request(url + "/login", data=form, headers={
                "origin": url, "content-type": "application/x-www-form-urlencoded"})
            with pytest.raises(urllib.error.HTTPError) as login_refused:
                urllib.request.urlopen(req, timeout=20)
            assert login_refused.value.code == 503
            assert json.loads(login_refused.value.read())["error"]["type"] == "storage_unavailable"
        finally:
            (small_disk / "filler").unlink()
        assert http("POST", url + "/v1/keys", key, {"name": "room again"})[0] == 201
        text = serve.output()
    assert "free disk space" in text and "Traceback" not in text and key not in text
