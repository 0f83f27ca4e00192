"""What `serve` takes in, through the whole app in process: body size, the key before the
body, `expires` and other numbers by the CLI's rules, a database that cannot be written
answered 503 `storage_unavailable`, and one that is gone 503 `database_unavailable`."""

import json
import os
from datetime import timedelta

import pytest

from aispendtrack.config import Config, parse_config
from aispendtrack.serve.app import create_app
from aispendtrack.store import db as dbmod
from aispendtrack.store.db import utcnow
from aispendtrack.store.keytext import check_expiry

MIB = 1 << 20
KEY_HEADER = "x-aispendtrack-key"


@pytest.fixture
def plane(db_path, store):
    store.create_account("acme", "pro")
    key = store.create_key("acme", Config(), name="owner").key

    def app(config: Config = Config()):
        return create_app(config, db_path, deliver=False)

    return app, key


def post(asgi, app, path, body: bytes, key=None, *, chunked=False, extra=()):
    headers = [("content-type", "application/json"), *extra]
    if key:
        headers.append((KEY_HEADER, key))
    if chunked:
        headers.append(("transfer-encoding", "chunked"))
        chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)] or [b""]
    else:
        headers.append(("content-length", str(len(body))))
        chunks = [body]
    return asgi(app, "POST", path, headers, chunks)


def keys_of(database) -> int:
    return database.execute("SELECT COUNT(*) FROM keys").fetchone()[0]


def error(body: bytes) -> dict:
    return json.loads(body)["error"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(asgi, plane, database):
    app, key = plane
    big = json.dumps({"name": "x" * (30 * MIB)}).encode()
    for who in (None, key):
        status, headers, body, taken = post(asgi, app(), "/v1/keys", big, who)
        assert (status, taken) == (413, 0), body
        assert error(body)["type"] == "request_too_large" and "[serve] max_body_bytes" in error(body)["message"]
        assert headers["connection"] == "close"
    assert keys_of(database) == 1


def test_a_chunked_body_is_counted_and_refused_once_over_the_limit(asgi, plane, database):
    app, key = plane
    big = json.dumps({"name": "x" * (2 * MIB)}).encode()
    status, _, body, taken = post(asgi, app(), "/v1/keys", big, key, chunked=True)
    assert status == 413 and error(body)["type"] == "request_too_large"
    assert taken <= MIB // 65536 + 1, "reading stopped at the limit"
    assert keys_of(database) == 1


def test_a_body_within_the_limit_passes_whole_also_chunked(asgi, plane, database):
    app, key = plane
    for chunked in (False, True):
        body = json.dumps({"name": "n" * 60, "permissions": ["calls"]}).encode().ljust(MIB - 10)
        status, _, answer, _ = post(asgi, app(), "/v1/keys", body, key, chunked=chunked)
        assert status == 201, answer
        assert json.loads(answer)["name"] == "n" * 60
    assert keys_of(database) == 3


def test_the_limit_is_configured(asgi, plane):
    app, key = plane
    small = app(parse_config({"serve": {"max_body_bytes": 2048}}))
    assert post(asgi, small, "/v1/keys", b'{"name": "x"}'.ljust(2049), key)[0] == 413
    assert post(asgi, small, "/v1/keys", b'{"name": "x"}'.ljust(2048), key)[0] == 201
    assert post(asgi, small, "/login", b"key=x".ljust(2049))[0] == 413, "the dashboard's forms too"


@pytest.mark.parametrize("key", [None, "ask_" + "A" * 32, "sk-not-ours"])
def test_the_key_is_checked_before_the_body_is_read(asgi, plane, key):
    """A bad key is answered 401 whatever the body holds (FastAPI alone parses it first: 422)."""
    app, _ = plane
    for body, chunked in ((b'{"name": ', False), (b"x" * 4096, True), (b'{"name": "ok"}', False)):
        status, headers, answer, taken = post(asgi, app(), "/v1/keys", body, key, chunked=chunked)
        assert (status, taken) == (401, 0), answer
        assert error(answer)["type"] == "invalid_api_key" and headers["connection"] == "close"


def test_a_good_key_with_a_bad_body_gets_the_field_named(asgi, plane):
    app, key = plane
    status, _, body, _ = post(asgi, app(), "/v1/keys", b'{"name": 5}', key)
    assert status == 422 and error(body)["message"].startswith("name:")


@pytest.mark.parametrize("expires, message", [
    (lambda now: now - timedelta(seconds=1), "expires: that is in the past"),
    (lambda now: now.replace(year=9999), "expires: more than 100 years ahead"),
    (lambda now: now + timedelta(days=100 * 366 + 1), "expires: more than 100 years ahead"),
])  # fmt: skip
def test_expires_follows_the_cli_rule(asgi, plane, database, expires, message):
    app, key = plane
    when = expires(utcnow())
    status, _, body, _ = post(asgi, app(), "/v1/keys", json.dumps({"expires": when.isoformat()}).encode(), key)
    assert status == 400 and error(body)["message"].startswith(message), body
    with pytest.raises(ValueError, match=message.removeprefix("expires: ")):
        check_expiry(when, utcnow())  # the function the CLI's --expires uses
    assert keys_of(database) == 1


def test_expires_in_range_is_kept(asgi, plane):
    app, key = plane
    when = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    status, _, body, _ = post(asgi, app(), "/v1/keys", json.dumps({"expires": when.isoformat()}).encode(), key)
    assert status == 201, body
    status, _, body, _ = asgi(app(), "GET", "/v1/keys", [(KEY_HEADER, key)])
    assert [k["expires"] for k in json.loads(body) if k["expires"]] == [dbmod.iso(when)]


@pytest.mark.parametrize("query", ["until=9999-12-31", "since=0001-01-01T00:00:00%2B05:00", "until=nonsense"])
def test_dates_out_of_range_are_a_400_naming_the_bound(asgi, plane, query):
    app, key = plane
    status, _, body, _ = asgi(app(), "GET", f"/v1/usage?{query}", [(KEY_HEADER, key)])
    assert status == 400, body
    assert error(body)["message"].startswith(query.split("=")[0] + ": ")


def read_only(monkeypatch):
    """Every connection opened from now on cannot write, as on a read-only file (root, as
    tests may run, writes through file permissions)."""
    connect = dbmod.connect

    def read_only_connect(path, **kw):
        database = connect(path, **kw)
        database.execute("PRAGMA query_only = ON")
        return database

    monkeypatch.setattr(dbmod, "connect", read_only_connect)


def test_a_database_that_cannot_be_written_is_a_503_not_a_500(asgi, plane, monkeypatch):
    app, key = plane
    served = app()
    read_only(monkeypatch)
    answers = {
        "POST /v1/keys": post(asgi, served, "/v1/keys", b'{"name": "x"}', key),
        "POST /v1/members": post(asgi, served, "/v1/members", b'{"name": "ann", "role": "member"}', key),
        "POST /login": asgi(served, "POST", "/login", [("origin", "http://127.0.0.1:8090"),
                                                       ("content-type", "application/x-www-form-urlencoded")],
                            [f"key={key}".encode()]),
    }
    for what, (status, headers, body, _) in answers.items():
        assert status == 503, (what, body)
        assert error(body)["type"] == "storage_unavailable" and "read-only" in error(body)["message"], what
        assert headers["retry-after"] == "5" and key.encode() not in body
    assert asgi(served, "GET", "/v1/me", [(KEY_HEADER, key)])[0] == 200, "reading still works"


def move(path, to):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.rename(f"{path}{suffix}", f"{to}{suffix}")


def test_a_vanished_database_is_a_503_never_created_again_nor_followed_when_back(asgi, plane, db_path, tmp_path):
    app, key = plane
    served = app()
    assert asgi(served, "GET", "/v1/keys", [(KEY_HEADER, key)])[0] == 200
    move(db_path, tmp_path / "elsewhere.db")
    login = [("origin", "http://127.0.0.1:8090"), ("content-type", "application/x-www-form-urlencoded")]
    answers = {
        "GET /v1/me": asgi(served, "GET", "/v1/me", [(KEY_HEADER, key)]),
        "POST /v1/keys": post(asgi, served, "/v1/keys", b'{"name": "x"}', key),
        "GET /v1/keys": asgi(served, "GET", "/v1/keys", [(KEY_HEADER, key)]),
        "GET /": asgi(served, "GET", "/", [("cookie", "aispendtrack_session=abc")]),
        "POST /login": asgi(served, "POST", "/login", login, [f"key={key}".encode()]),
    }
    for what, (status, headers, body, _) in answers.items():
        assert status == 503 and error(body)["type"] == "storage_unavailable", (what, body)
        assert "restarted" in error(body)["message"] and "retry-after" not in headers and key.encode() not in body
    assert not db_path.exists(), "an empty database was created in its place"
    move(tmp_path / "elsewhere.db", db_path)  # put back while serve runs: not used until it restarts
    assert asgi(served, "GET", "/v1/keys", [(KEY_HEADER, key)])[0] == 503
    restarted = app()
    assert asgi(restarted, "GET", "/v1/keys", [(KEY_HEADER, key)])[0] == 200
    assert post(asgi, restarted, "/v1/keys", b'{"name": "back"}', key)[0] == 201
