"""`serve.hosts`: which Host headers `serve` answers (DNS rebinding), and the config that names more."""

import json

import pytest

from aispendtrack.config import ConfigError, parse_config
from aispendtrack.serve.hosts import HostCheck, HostRule, split_host


@pytest.mark.parametrize("value, parsed", [
    ("127.0.0.1:8090", ("127.0.0.1", 8090)),
    ("LocalHost.:8090", ("localhost", 8090)),
    ("[::1]:8090", ("::1", 8090)),
    ("[::1]", ("::1", None)),
    ("example.com", ("example.com", None)),
    ("::1", None),  # an IPv6 address needs its brackets
    ("[::1", None),
    ("[::1]x", None),
    ("a:b:c", None),
    ("example.com:0", None),
    ("example.com:65536", None),
    ("example.com:80x", None),
    (":8090", None),
    ("", None),
])  # fmt: skip
def test_split_host(value, parsed):
    assert split_host(value) == parsed


LOCAL = HostRule.of("127.0.0.1", 8090, [])


@pytest.mark.parametrize("host", [
    "127.0.0.1:8090", "localhost:8090", "LOCALHOST:8090", "localhost.:8090", "[::1]:8090", "127.0.0.1", "localhost",
    None,  # HTTP/1.0 without a Host: no browser sends that
])  # fmt: skip
def test_the_listen_address_and_loopback_names_are_answered(host):
    assert LOCAL.allows(host)


@pytest.mark.parametrize("host", [
    "evil.example:8090", "evil.example", "127.0.0.1.evil.example:8090", "localhost.evil.example:8090",
    "127.0.0.1:9999", "localhost:80", "10.0.0.5:8090", "2130706433:8090", "127.1:8090", "[::ffff:127.0.0.1]:8090",
    "", "evil.example:8090@127.0.0.1", "127.0.0.1:8090 evil", "[::1",
])  # fmt: skip
def test_any_other_host_is_refused(host):
    assert not LOCAL.allows(host)


def test_listening_on_every_address_answers_any_ip_but_no_unknown_name():
    rule = HostRule.of("0.0.0.0", 8090, [])
    assert rule.allows("10.0.0.5:8090") and rule.allows("[fd00::1]:8090") and rule.allows("localhost:8090")
    assert not rule.allows("evil.example:8090") and not rule.allows("10.0.0.5:8091")


def test_a_specific_listen_address_is_answered_with_the_loopback_names():
    rule = HostRule.of("192.168.1.5", 9000, [])
    assert rule.allows("192.168.1.5:9000") and rule.allows("localhost:9000")
    assert not rule.allows("192.168.1.6:9000")


def test_allowed_hosts_add_names_any_port_or_one_port():
    cfg = parse_config({"serve": {"allowed_hosts": ["Dash.Example.com.", "*.corp.example", "api.example.com:443"]}})
    assert cfg.serve.allowed_hosts == ["dash.example.com", "*.corp.example", "api.example.com:443"]
    rule = HostRule.of("127.0.0.1", 8090, cfg.serve.allowed_hosts)
    for host in ("dash.example.com", "DASH.example.com:8090", "dash.example.com:443", "a.corp.example:1",
                 "api.example.com:443"):
        assert rule.allows(host), host
    for host in ("corp.example", "api.example.com:444", "api.example.com", "dash.example.com.evil.example"):
        assert not rule.allows(host), host


@pytest.mark.parametrize("entry", ["https://dash.example.com", "dash.example.com/x", "user@host", "", "a b", "acmé.com"])
def test_allowed_hosts_refuse_what_is_no_host(entry):
    with pytest.raises(ConfigError, match=r"serve\.allowed_hosts: .*expected a host name"):
        parse_config({"serve": {"allowed_hosts": [entry]}})


async def _app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_the_middleware_answers_400_before_the_app(asgi):
    app = HostCheck(_app, LOCAL)
    assert asgi(app, "GET", "/")[0] == 200
    status, headers, body, _ = asgi(app, "GET", "/", host="rebound.evil.example:8090")
    assert status == 400 and headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_host" and "'rebound.evil.example:8090'" in error["message"]
    assert "[serve] allowed_hosts" in error["message"]
    status, _, body, _ = asgi(app, "GET", "/", headers=[("host", "127.0.0.1:8090")], host="evil.example:8090")
    assert status == 400 and "one Host header" in json.loads(body)["error"]["message"]
