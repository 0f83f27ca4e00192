"""Hostile inputs: property tests on the pure parts, then the running proxy (real mitmdump).

Property tests (hypothesis): header parsing, provider identification, request-body
inspection / stream-usage injection and config validation never raise anything unexpected.

End to end: broken and giant headers, invalid UTF-8, non-object JSON, huge bodies, request
and response gzip bombs, unknown encodings, SSE without newlines, invalid config files.
Each input gets a clear answer or passes through untouched, and afterwards a normal call
still completes quickly; mitmdump's log holds no traceback from aispendtrack.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import socket
import sqlite3
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import tflow

from aispendtrack.proxy import auth, providers
from aispendtrack import meter
from aispendtrack.config import Config, ConfigError, load_config, parse_config
from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.store.keys import KEY_RE
from support.harness import Proxy, database_with_key

HEADER = auth.HEADER
APIS = {"chat", "responses", "embeddings", "completions", "messages", "generate", "ollama-chat", "ollama-generate",
        "ollama-embed", "ollama-embeddings", "realtime", "batch", "batches", "files", "other"}

# ---------------------------------------------------------------------------------- properties

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# Every refusal text, produced from values that cannot be echoed back.
FIXED_WORDING = " ".join(auth.parse_header(v)[1] for v in ([], ["#"], ["#" * 300], ["ask_#"], ["#", "#"]))


@PROPS
@given(st.lists(st.text(), max_size=5))
def test_parse_header_never_raises(values):
    key, why = auth.parse_header(values)
    assert (key is None) != (why is None)
    if key is not None:
        assert KEY_RE.fullmatch(key) and len(values) == 1
    else:
        assert isinstance(why, str) and why
        # the refusal never echoes what was sent (it may be a provider key); only a value
        # that happens to be part of our own fixed wording may appear in it
        for v in values:
            if len(v.strip()) >= 8:
                assert v.strip() not in why or v.strip() in FIXED_WORDING


@PROPS
@given(st.text(), st.text(max_size=40), st.integers(0, 65535), st.booleans())
def test_identify_and_api_of_never_raise(path, host, port, reverse):
    assert providers.api_of(path) in APIS
    f = tflow.tflow()
    f.request.path = path
    f.request.host = host
    f.request.port = port
    if reverse:
        f.client_conn.proxy_mode = ProxyMode.parse("reverse:http://127.0.0.1:9")
    t = providers.identify(f, Config())
    if reverse:
        assert t is not None and t.api in APIS
    if t is not None:
        assert t.shape in ("openai", "anthropic", "google", "ollama")
        body = providers.error_body(t.shape, 401, "m\udcff\x00", "c")  # lone surrogate in a message
        assert json.loads(body)


# (request.host = CONNECT target or URL host, port, TLS SNI, Host header) of regular-mode flows
# that name a provider one way or another: each must be provider-bound.
DODGES = [
    ("api.openai.com.", 443, None, None),  # trailing dot (DNS root)
    ("API.OpenAI.COM", 443, None, None),
    ("api.openai.com.", 443, "api.openai.com", "api.openai.com."),
    ("93.184.216.34", 443, "api.openai.com", "api.openai.com"),  # curl --connect-to: CONNECT <ip>:443
    ("93.184.216.34", 443, "API.OPENAI.COM.", None),
    ("93.184.216.34", 443, None, "api.openai.com:443"),  # plain HTTP with the provider's Host
    ("93.184.216.34", 443, None, "api.openai.com.:443"),
    ("::1", 443, "api.anthropic.com", None),
]


@pytest.mark.parametrize("host, port, sni, host_header", DODGES)
def test_a_provider_named_by_target_sni_or_host_header_is_provider_bound(host, port, sni, host_header):
    f = tflow.tflow()
    f.request.host, f.request.port = host, port
    f.request.headers.pop("Host", None)
    if host_header:
        f.request.headers["Host"] = host_header
    f.client_conn.sni = sni
    t = providers.identify(f, Config())
    assert t is not None and t.provider in ("openai", "anthropic")


@pytest.mark.parametrize("host, sni, host_header", [("93.184.216.34", "example.com", "example.com"),
                                                    ("api.openai.com.evil.com", None, None),
                                                    ("example.com", "openai.com", "[::1")])
def test_other_hosts_stay_untouched(host, sni, host_header):
    f = tflow.tflow()
    f.request.host = host
    f.request.headers.pop("Host", None)
    if host_header:
        f.request.headers["Host"] = host_header
    f.client_conn.sni = sni
    assert providers.identify(f, Config()) is None


def test_configured_hosts_are_canonical():
    config = parse_config({"upstreams": {"LLM.Internal.:8000": "openai"}, "providers": {"API.X.AI.": "x-ai"}})
    assert config.upstreams == {"llm.internal:8000": "openai"}
    assert "api.x.ai" in config.providers


@PROPS
@given(st.sampled_from(sorted(APIS)), st.binary(max_size=300))
def test_request_info_and_inject_never_raise_on_bytes(api, body):
    info = meter.request_info(api, body)
    assert isinstance(info, meter.RequestInfo)
    out = meter.inject_stream_usage(body)
    assert out is None or isinstance(out, bytes)


json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10)
json_value = st.recursive(json_scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                          max_leaves=10)
stream_options = st.none() | json_value | st.dictionaries(st.sampled_from(["include_usage", "x"]), json_value, max_size=2)


@PROPS
@given(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("stream", "stream_options")), json_value, max_size=4),
       st.booleans(), stream_options, st.booleans(), st.sampled_from([None, (",", ":"), (", ", ": ")]),
       st.booleans(), st.text(" \t\r\n", max_size=3))
def test_inject_keeps_json_equal_except_stream_options(rest, with_opts, opts, ascii_, seps, indent, lead):
    obj = {**rest, "stream": True}
    if with_opts:
        obj["stream_options"] = opts
    body = (lead + json.dumps(obj, ensure_ascii=ascii_, separators=seps, indent=2 if indent else None)).encode()
    info = meter.request_info("chat", body)
    assert info.stream is True
    out = meter.inject_stream_usage(body)
    if out is None:
        # only when usage is already asked for, or stream_options is not an object
        assert (isinstance(opts, dict) and opts.get("include_usage") is True) or (with_opts and opts is not None and not isinstance(opts, dict))
        return
    new = json.loads(out)
    assert new["stream_options"]["include_usage"] is True
    if with_opts and isinstance(opts, dict):
        assert {k: v for k, v in new["stream_options"].items() if k != "include_usage"} == {k: v for k, v in opts.items() if k != "include_usage"}
    assert {k: v for k, v in new.items() if k != "stream_options"} == {k: v for k, v in obj.items() if k != "stream_options"}
    assert meter.request_info("chat", out).include_usage is True


@pytest.mark.parametrize("body", [
    b'\xef\xbb\xbf{"stream":true,"model":"m"}',
    '{"stream":true,"model":"m"}'.encode("utf-16"),
], ids=["utf8-bom", "utf16"])
def test_inject_keeps_bom_or_utf16_body_valid(body):
    out = meter.inject_stream_usage(body)
    assert out is None or json.loads(out)["stream_options"]["include_usage"] is True


toml_key = st.text(min_size=1, max_size=12)
config_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12) | st.decimals(allow_nan=True)
config_dict = st.recursive(
    config_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(toml_key, c, max_size=4),
    max_leaves=12,
)
config_like = st.fixed_dictionaries({}, optional={
    "proxy": st.dictionaries(st.sampled_from(["listen_host", "modes", "connection_strategy", "x"]), config_dict, max_size=3),
    "keys": st.dictionaries(st.sampled_from(["rotation_grace_seconds", "x"]), config_dict, max_size=2),
    "tiers": st.dictionaries(st.sampled_from(["free", "pro", "enterprise", "gold"]),
                             st.dictionaries(st.sampled_from(["max_keys", "requests_per_hour", "monthly_calls", "x"]), config_leaf, max_size=3) | config_leaf,
                             max_size=3),
    "providers": st.dictionaries(toml_key, config_leaf, max_size=3),
    "upstreams": st.dictionaries(toml_key, config_leaf, max_size=3),
    "metering": st.dictionaries(st.sampled_from(["inject_stream_usage", "x"]), config_dict, max_size=2),
    "prices": st.dictionaries(toml_key, st.dictionaries(st.sampled_from(["input_mtok", "output_mtok", "cache_read_mtok", "x"]), config_leaf, max_size=4), max_size=2),
})


@PROPS
@given(config_like | st.dictionaries(toml_key, config_dict, max_size=4) | config_dict)
def test_parse_config_gives_config_or_one_line_error(data):
    try:
        c = parse_config(data, source="mitm.toml")
    except ConfigError as e:
        msg = str(e)
        assert msg.startswith("mitm.toml: ") and "\n" not in msg and "\r" not in msg
        return
    assert isinstance(c, Config)
    # what was accepted is usable: grace fits a date, tiers resolve
    from datetime import timedelta

    from aispendtrack.store.db import iso, utcnow

    iso(utcnow() + timedelta(seconds=c.keys.rotation_grace_seconds))
    for t in ("free", "pro", "enterprise"):
        c.tier(t)


# ---------------------------------------------------------------------------------- invalid config files

CONFIG_CORPUS = [
    ("not toml", "[tiers.free\nmax_keys = 1", "not valid TOML"),
    ("binary", b"\xff\xfe\x00garbage", "cannot read"),
    ("wrong type", "[tiers.free]\nmax_keys = \"many\"\n", "tiers.free.max_keys"),
    ("negative limit", "[tiers.pro]\nrequests_per_hour = -5\n", "tiers.pro.requests_per_hour"),
    ("zero limit", "[tiers.free]\nmonthly_calls = 0\n", "tiers.free.monthly_calls"),
    ("float limit", "[tiers.free]\nmonthly_calls = 1.5\n", "tiers.free.monthly_calls"),
    ("bool limit", "[tiers.free]\nmax_keys = true\n", "tiers.free.max_keys"),
    ("unknown top key", "[limits]\nx = 1\n", "limits"),
    ("unknown nested key", "[keys]\nrotation_grace = 5\n", "keys.rotation_grace"),
    ("unknown tier", "[tiers.gold]\nmax_keys = 1\n", "tiers.gold"),
    ("negative grace", "[keys]\nrotation_grace_seconds = -1\n", "keys.rotation_grace_seconds"),
    ("huge grace", "[keys]\nrotation_grace_seconds = 300000000000\n", "keys.rotation_grace_seconds"),
    ("modes not a list", "[proxy]\nmodes = \"regular\"\n", "proxy.modes"),
    ("garbage mode", "[proxy]\nmodes = [\"garbage@8080\"]\n", "proxy.modes"),
    ("bad strategy", "[proxy]\nconnection_strategy = \"sometimes\"\n", "proxy.connection_strategy"),
    ("provider not str", "[providers]\n\"api.openai.com\" = 1\n", "providers.api.openai.com"),
    ("newline in key", "[providers]\n\"a\\nb\" = 1\n", "providers.a\\nb"),
    ("negative price", "[prices.m]\ninput_mtok = -1\noutput_mtok = 1\n", "prices.m.input_mtok"),
    ("nan price", "[prices.m]\ninput_mtok = nan\noutput_mtok = 1\n", "prices.m.input_mtok"),
    ("price missing field", "[prices.m]\ninput_mtok = 1\n", "prices.m.output_mtok"),
    ("table is scalar", "tiers = 5\n", "tiers"),
    ("inject not bool", "[metering]\ninject_stream_usage = 1\n", "metering.inject_stream_usage"),
]


@pytest.mark.parametrize("name, text, field", CONFIG_CORPUS, ids=[c[0] for c in CONFIG_CORPUS])
def test_invalid_config_file_is_one_line_naming_file_and_field(tmp_path, name, text, field):
    p = tmp_path / "mitm.toml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: ") and "\n" not in msg, msg
    assert field in msg, msg


# ---------------------------------------------------------------------------------- the running proxy

class Crafted:
    """A raw HTTP/1.1 upstream on 127.0.0.1 answering crafted bytes chosen by `?case=`."""

    def __init__(self, cases: dict[str, bytes]):
        self.cases = cases
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self._loop)

        async def main():
            srv = await asyncio.start_server(self._conn, "127.0.0.1", 0, limit=1 << 24)
            self.port = srv.sockets[0].getsockname()[1]
            self._ready.set()
            async with srv:
                await srv.serve_forever()

        try:
            self._loop.run_until_complete(main())
        except (asyncio.CancelledError, RuntimeError):
            pass

    async def _conn(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            m = re.search(rb"content-length:\s*(\d+)", head, re.I)
            if m:
                await reader.readexactly(int(m.group(1)))
            case = re.search(rb"[?&]case=([\w-]+)", head.split(b"\r\n", 1)[0]).group(1).decode()
            writer.write(self.cases[case])
            await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()

    def start(self):
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self):
        for t in asyncio.all_tasks(self._loop):
            self._loop.call_soon_threadsafe(t.cancel)
        self._thread.join(5)


def gzip_bomb(unit: bytes, total: int) -> bytes:
    """One gzip member (mitmproxy decodes only the first) of ~1/1000 the size of what it
    inflates to: `total` bytes of `unit`. Built from a full-flushed deflate piece repeated."""
    piece_in = unit * ((16 << 20) // len(unit))
    piece = (c := zlib.compressobj(9, zlib.DEFLATED, -15)).compress(piece_in) + c.flush(zlib.Z_FULL_FLUSH)
    n = max(1, total // len(piece_in))
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(piece_in, crc)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + piece * n + end
            + struct.pack("<II", crc, (n * len(piece_in)) & 0xFFFFFFFF))


def http_response(headers: dict[str, str], body: bytes, chunked: bool = False) -> bytes:
    head = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if chunked:
        frames = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536]) for i in range(0, len(body), 65536))
        return (head + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + frames + b"0\r\n\r\n"
    return (head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


GIB = 1 << 30


def huge_completed(size: int) -> bytes:
    """A Responses stream whose `response.completed` event carries a `size`-byte answer."""
    event = {"type": "response.completed", "response": {
        "model": "gpt-4.1-2025-04-14", "output": [{"type": "message", "content": [{"type": "output_text",
                                                                                    "text": "w" * size}]}],
        "usage": {"input_tokens": 11, "output_tokens": 6_000_000, "total_tokens": 6_000_011}}}
    return b"event: response.completed\ndata: " + json.dumps(event).encode() + b"\n\n"
# prompt_tokens values that are no token count: each once made the row fail or priced it on output only
BAD_COUNTS = {"1e30": b"1000000000000000000000000000000", "2p63": b"9223372036854775808", "1e308": b"1e308",
              "negative": b"-5", "string": b'"12"', "fraction": b"1.5", "null": b"null", "true": b"true"}


@functools.cache
def cases() -> dict[str, bytes]:
    return {
        "sse-no-newline": http_response({"Content-Type": "text/event-stream"}, b"data: {" + b"x" * (6 << 20), chunked=True),
        "sse-gzip-bomb-zeros": http_response({"Content-Type": "text/event-stream", "Content-Encoding": "gzip"},
                                             gzip_bomb(b"\0", 2 * GIB), chunked=True),
        "sse-gzip-bomb-events": http_response({"Content-Type": "text/event-stream", "Content-Encoding": "gzip"},
                                              gzip_bomb(b'data: {"x": "' + b"y" * 1000 + b'"}\n\n', GIB // 8), chunked=True),
        "json-gzip-bomb": http_response({"Content-Type": "application/json", "Content-Encoding": "gzip"},
                                        gzip_bomb(b" ", GIB // 4)),
        "sse-encoding-foo": http_response({"Content-Type": "text/event-stream", "Content-Encoding": "foo"},
                                          b"data: {\"usage\": 1}\n\n\x00\xff", chunked=True),
        "json-encoding-foo": http_response({"Content-Type": "application/json", "Content-Encoding": "foo"}, b"\x89PNG\x00\xff"),
        "json-bad-gzip": http_response({"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"\x1f\x8b\x08garbage"),
        "json-deep": http_response({"Content-Type": "application/json"}, b"[" * 200000 + b"]" * 200000),
        "json-invalid-utf8": http_response({"Content-Type": "application/json; charset=utf-8"}, b'{"model": "\xff\xfe", "usage": {"prompt_tokens": "\xc3"}}'),
        "sse-huge-completed": http_response({"Content-Type": "text/event-stream"}, huge_completed(24 << 20), chunked=True),
        **{f"usage-{name}": http_response({"Content-Type": "application/json"},
                                          b'{"model": "gpt-4o-mini", "usage": {"prompt_tokens": %s, "completion_tokens": 7}}'
                                          % value)
           for name, value in BAD_COUNTS.items()},
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    db_path, key = database_with_key(tmp, "hostile")
    fake = FakeProvider().start()
    crafted = Crafted(cases()).start()
    proxy = Proxy(tmp, db_path, modes={"openai": "reverse:" + fake.url + "@{port}",
                                       "crafted": f"reverse:http://127.0.0.1:{crafted.port}@{{port}}"}).start()
    yield {"proxy": proxy, "fake": fake, "key": key, "db": db_path, "tmp": tmp}
    proxy.stop()
    crafted.stop()
    fake.stop()


def good_call(env, limit: float = 5.0) -> None:
    """A normal call completes quickly: the input before it stalled nothing."""
    t = time.monotonic()
    r = httpx2.post(env["proxy"].url("openai") + "/v1/chat/completions", timeout=10,
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                    headers={HEADER: env["key"], "authorization": "Bearer sk-x"})
    assert r.status_code == 200, r.text
    assert time.monotonic() - t < limit


def raw(port: int, data: bytes, timeout: float = 20, half_close: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = b""
        try:
            while chunk := s.recv(1 << 16):
                out += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return out


def status_of(resp: bytes) -> int | None:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", resp)
    return int(m.group(1)) if m else None


def req(key: str | bytes | None, body: bytes = b'{"model":"m","messages":[]}', *, path=b"/v1/chat/completions",
        extra: bytes = b"", method=b"POST") -> bytes:
    k = key.encode() if isinstance(key, str) else key
    head = method + b" " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    if k is not None:
        head += HEADER.encode() + b": " + k + b"\r\n"
    return head + extra + b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.slow
def test_hostile_requests_get_clear_answers_and_never_stall(env):
    port, key, fake = env["proxy"].ports["openai"], env["key"], env["fake"]
    tried = 0

    def check(data: bytes, allowed: set[int | None], *, upstream_body: bytes | None = None, half_close=False):
        nonlocal tried
        tried += 1
        fake.clear()
        t0 = time.monotonic()
        resp = raw(port, data, half_close=half_close)
        took = time.monotonic() - t0
        if took > 1:
            print(f"slow input ({took:.1f} s): {data[:80]!r}")
        st_ = status_of(resp)
        assert st_ in allowed, (data[:120], resp[:300])
        if st_ is not None and st_ >= 400:
            assert b"\r\n\r\n" in resp
        if upstream_body is not None:
            assert [r.body for r in fake.received] == [upstream_body]
        # the key never travels upstream
        for r in fake.received:
            assert key.encode() not in r.body and all(key not in v for _, v in r.headers)
        good_call(env)
        return resp

    # broken / giant headers
    check(req(key, extra=b"x-big: " + b"a" * 100_000 + b"\r\n"), {200, 400, 431})
    check(req(key, extra=b"".join(b"x-h%d: v\r\n" % i for i in range(1000))), {200, 400, 431})
    check(req(None, extra=(HEADER.encode() + b": " + key.encode() + b"\r\n") * 200), {401})
    check(req(key, extra=b"x-no-colon\r\n"), {400})
    check(req(key, extra=b"x-nul: a\x00b\r\n"), {200, 400})
    check(req(key, extra=b"x-obs-fold: a\r\n  folded\r\n"), {200, 400})
    check(req(key, extra=b"x-utf8: \xff\xfe\xc3\x28\r\n"), {200, 400})
    check(req(key.encode() + b"\xff"), {401})
    check(req(b"ask_" + b"\xc3\xa9" * 16), {401})
    check(req(b""), {401})
    check(b"GARBAGE\r\n\r\n", {400, None})
    check(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", {400, None})
    check(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + HEADER.encode()
          + b": " + key.encode() + b"\r\n\r\nzz\r\n", {400, None})
    check(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef", {400, None})
    check(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, {400, None}, half_close=True)  # TLS hello on plain HTTP
    # bodies with a valid key: passed through byte for byte, the fake answers 400 itself
    for body in [b"[]", b'"x"', b"null", b"1", b'{"model": "m", "messages": [', b"\xff\xfe\xfd not json",
                 b'{"model": "\xff\xfe", "stream": true}', b"[" * 100_000 + b"]" * 100_000,
                 b'{"model":"m","stream":true,"stream_options":"x"}', b'{"stream": true, "model": 1e999999}',
                 b'\xef\xbb\xbf{"model":"m","messages":[]}', b"{" * 50_000]:
        # (the fake itself drops the connection on 100k-deep nesting: RecursionError -> 502)
        check(req(key, body), {200, 400, 502}, upstream_body=body if not body.startswith(b'{"stream"') else None)
    # huge body (32 MB) reaches upstream intact
    big = b'{"model":"m","messages":[{"role":"user","content":"' + b"a" * (32 << 20) + b'"}]}'
    check(req(key, big), {200}, upstream_body=big)
    print(f"\nhostile requests tried: {tried}")
    assert tried >= 25
    pid = env["proxy"].proc.pid
    print(f"mitmdump RSS peak after hostile requests: {rss_peak_mb(pid):.0f} MB")
    assert rss_peak_mb(pid) < 600, f"mitmdump peaked at {rss_peak_mb(pid):.0f} MB"


@pytest.mark.slow
def test_request_gzip_bomb_is_not_inflated_by_the_proxy(env):
    pid = env["proxy"].proc.pid
    reset_rss_peak(pid)
    bomb = gzip_bomb(b" ", GIB // 4)
    env["fake"].clear()
    t = time.monotonic()
    resp = raw(env["proxy"].ports["openai"], req(env["key"], bomb, extra=b"Content-Encoding: gzip\r\n"))
    took = time.monotonic() - t
    assert status_of(resp) in (200, 400)
    assert [r.body for r in env["fake"].received] == [bomb]  # passed on as it came
    good_call(env)
    assert rss_peak_mb(pid) < 250 and took < 10, f"RSS peak {rss_peak_mb(pid):.0f} MB, {took:.1f} s"


def stream_through(env, case: str, *, timeout: float = 30) -> tuple[int, dict, bytes, float]:
    """include_usage is asked for, so the proxy has nothing to strip: bytes must pass as they came."""
    t = time.monotonic()
    with httpx2.stream("POST", env["proxy"].url("crafted") + f"/v1/chat/completions?case={case}",
                       json={"model": "m", "stream": True, "stream_options": {"include_usage": True}, "messages": []},
                       timeout=timeout,
                       headers={HEADER: env["key"], "accept-encoding": "identity"}) as r:
        data = b"".join(r.iter_raw())
        return r.status_code, dict(r.headers), data, time.monotonic() - t


def expected_body(case: str) -> bytes:
    raw_resp = cases()[case]
    head, body = raw_resp.split(b"\r\n\r\n", 1)
    if b"chunked" not in head:
        return body
    out, rest = b"", body
    while True:
        size_line, rest = rest.split(b"\r\n", 1)
        n = int(size_line, 16)
        if not n:
            return out
        out += rest[:n]
        rest = rest[n + 2:]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["sse-no-newline", "sse-encoding-foo", "json-encoding-foo", "json-bad-gzip",
                                  "json-deep", "json-invalid-utf8", "sse-gzip-bomb-zeros",
                                  "sse-gzip-bomb-events"])
def test_hostile_responses_pass_through_untouched(env, case):
    results: dict = {}

    def run():
        results["r"] = stream_through(env, case)

    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.05)
    good_call(env)  # concurrently, while the hostile response flows
    th.join(60)
    status, headers, data, _ = results["r"]
    assert status == 200
    assert data == expected_body(case), (len(data), len(expected_body(case)))
    good_call(env)


def reset_rss_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM


@pytest.mark.slow
def test_non_streamed_gzip_bomb_response_is_not_inflated_by_the_proxy(env):
    """A 1 MB gzip body inflating to 1 GB: the client gets the encoded bytes, the proxy
    meters within a bound instead of inflating it all."""
    reset_rss_peak(env["proxy"].proc.pid)
    status, _, data, took = stream_through(env, "json-gzip-bomb")
    assert status == 200 and data == expected_body("json-gzip-bomb")
    good_call(env)
    pid = env["proxy"].proc.pid
    peak = rss_peak_mb(pid)
    assert peak < 250, f"mitmdump RSS peaked at {peak:.0f} MB metering a 256 KB gzip body ({took:.1f} s)"


def last_row(env) -> dict:
    with sqlite3.connect(env["db"]) as c:
        c.row_factory = sqlite3.Row
        return dict(c.execute("SELECT * FROM calls ORDER BY id DESC LIMIT 1").fetchone())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BAD_COUNTS))
def test_garbage_token_counts_keep_the_row_unpriced_with_the_reason(env, name):
    r = httpx2.post(env["proxy"].url("crafted") + f"/v1/chat/completions?case=usage-{name}", timeout=20,
                    json={"model": "gpt-4o-mini", "messages": []}, headers={HEADER: env["key"]})
    assert r.status_code == 200  # the client gets its answer untouched...
    row = last_row(env)  # ...and the ledger its row, honest about what it could not count
    assert row["outcome"] == "forwarded" and row["input_tokens"] is None and row["output_tokens"] == 7
    assert row["pricing"] == "unpriced" and row["cost_usd"] is None
    assert "prompt_tokens=" in row["error"]


@pytest.mark.slow
def test_usage_of_a_24_mb_terminal_event_is_metered_with_flat_memory(env):
    pid = env["proxy"].proc.pid
    reset_rss_peak(pid)
    with httpx2.stream("POST", env["proxy"].url("crafted") + "/v1/responses?case=sse-huge-completed", timeout=60,
                       json={"model": "gpt-4.1", "stream": True, "input": "x"}, headers={HEADER: env["key"]}) as r:
        data = b"".join(r.iter_raw())
    assert r.status_code == 200 and data == expected_body("sse-huge-completed")
    row = last_row(env)
    assert (row["input_tokens"], row["output_tokens"], row["pricing"]) == (11, 6_000_000, "priced")
    assert row["error"] is None and not row["partial"]
    assert rss_peak_mb(pid) < 250, f"RSS peak {rss_peak_mb(pid):.0f} MB"


@pytest.mark.slow
def test_mitmdump_log_has_no_aispendtrack_traceback(env):
    good_call(env)
    log = env["proxy"].output()
    assert "Traceback" not in log or "aispendtrack" not in log.split("Traceback", 1)[1], log[-3000:]
    assert "Addon error" not in log, log[-3000:]


@pytest.mark.slow
def test_invalid_config_stops_mitmdump_with_one_line(tmp_path, db_path):
    for text, field in [("[tiers.pro]\nrequests_per_hour = -5\n", "tiers.pro.requests_per_hour"),
                        ("not = [toml", "not valid TOML")]:
        p = Proxy(tmp_path, db_path, modes={"openai": "reverse:http://127.0.0.1:9@{port}"}, config_text=text)
        log = open(p.log_path, "wb")
        try:
            rc = subprocess.run(p.argv(), stdout=log, stderr=subprocess.STDOUT, timeout=30, cwd=tmp_path).returncode
        finally:
            log.close()
        out = p.output()
        assert rc != 0, out
        lines = [ln for ln in out.splitlines() if "AiSpendTrack config error" in ln]
        assert len(lines) == 1 and str(p.config_path) in lines[0] and field in lines[0], out
        assert "Traceback" not in out, out


# ------------------------------------------------------------------- names printed to terminals

HOSTILE_NAMES = ["evil\x1b[31mred\x1b[0m", "\x1b]0;pwned\x07title", "[bold red]markup[/]", "rtl\u202etxt.exe",
                 "m" * (1 << 20), "cr\rover\bwrite"]


def test_report_and_top_print_no_control_characters_and_bounded_names(store, config, monkeypatch):
    from click.testing import CliRunner

    from aispendtrack.cli.main import cli
    from aispendtrack.store.db import iso

    now = time.time()
    store.record([  # as the ledger writer writes them: the daily sums the report reads follow
        {"ts": iso(now - 60 * i), "key_id": f"key_{name[:40]}", "account": name, "provider": "openai", "api": "chat",
         "model": name, "status": 200, "outcome": "forwarded", "input_tokens": 10, "output_tokens": 5,
         "cost_usd": "0.01", "pricing": "priced"}
        for i, name in enumerate(HOSTILE_NAMES)
    ])
    database_path = store.target
    runner = CliRunner()
    for args in (["report"], ["report", "--by", "account"], ["report", "--by", "key"], ["top", "--once"]):
        r = runner.invoke(cli, ["--db", database_path, *args], catch_exceptions=False)
        assert r.exit_code == 0, r.output[:2000]
        out = r.output
        assert all(ch.isprintable() or ch == "\n" for ch in out), sorted({repr(c) for c in out if not c.isprintable()})
        assert len(out) < 20_000  # a 1 MB model name does not make the report megabytes long
        assert "m" * 200 not in out
        assert "[bold red]markup[/]" in out  # shown as it is, not interpreted


@pytest.mark.parametrize("name", [n for n in HOSTILE_NAMES if not n.startswith("[")])
def test_hostile_account_names_are_refused_on_input(database, name):
    from aispendtrack.store.keys import KeyStoreError, create_account

    with pytest.raises(KeyStoreError):
        create_account(database, name)
