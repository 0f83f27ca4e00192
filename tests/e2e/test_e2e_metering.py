"""Real mitmdump, official SDKs, local fake provider: metering end to end.

One proxy serves the whole module (starting mitmdump costs ~2 s): a reverse listener on
the main fake (OpenAI / Anthropic / Gemini, told apart by path shape), one per
OpenAI-compatible flavor (each its own fake, named under `[upstreams]`) and one on a
closed port. Rows are found by id watermark: tests run one after another on one DB.

What the upstream sent is known exactly: `fakeprovider.build` is wrapped to record every
reply (frames before gzip) by its `x-fake-request-id`.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import time
from decimal import Decimal

import anthropic
import httpx2
import openai
import pytest
from genai_prices import Usage, calc_price
from mitmproxy import io as mio

from aispendtrack.store import keys, open_store
from aispendtrack.proxy.auth import HEADER
from aispendtrack.config import Config
from aispendtrack.demo.fake.server import FakeProvider, UsageSpec

from support.harness import Proxy, free_port, record_replies
from support.ledger_rows import last_id, rows_after

U = UsageSpec()  # the fake's default usage: 1200 in (400 cache read, 100 cache write), 300 out (50 reasoning)
FLAVORS = {"groq": "llama-3.3-70b-versatile", "openrouter": "openai/gpt-4o-mini", "deepseek": "deepseek-chat"}
PRIVATE = "my-private-model-x"


# ---------------------------------------------------------------- fixtures
def init_db(path):
    with open_store(path) as store:
        store.create_account("acme", "enterprise")
        return store.create_key("acme", Config(), name="e2e")


class Env:
    def __init__(self, tmp, db_path, key, fakes, proxy):
        self.tmp, self.db_path, self.key, self.fakes, self.proxy = tmp, db_path, key.key, fakes, proxy
        self.fake = fakes["main"]

    def url(self, name="main"):
        return self.proxy.url(name)

    def mark(self) -> int:
        return last_id(self.db_path)

    def rows(self, mark: int, n: int = 1, timeout: float = 10) -> list[dict]:
        return rows_after(self.db_path, mark, n, timeout)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metering")
    db_path = tmp / "aispendtrack.db"
    key = init_db(db_path)
    fakes = {name: FakeProvider().start() for name in ("main", *FLAVORS)}
    upstreams = "".join(f'"127.0.0.1:{fakes[f].port}" = "{f}"\n' for f in FLAVORS)
    config = (
        f"[upstreams]\n{upstreams}\n"
        f'[prices."{PRIVATE}"]\ninput_mtok = "2.5"\noutput_mtok = 10\ncache_read_mtok = "0.25"\n'
    )
    modes = {name: f"reverse:{f.url}@{{port}}" for name, f in fakes.items()}
    modes["refused"] = f"reverse:http://127.0.0.1:{free_port()}@{{port}}"
    proxy = Proxy(tmp, db_path, modes=modes, config_text=config).start()
    yield Env(tmp, db_path, key, fakes, proxy)
    proxy.stop()
    for f in fakes.values():
        f.stop()


@pytest.fixture(autouse=True)
def recorded(monkeypatch):
    """request id → the bytes the fake generated (before any gzip)."""
    return record_replies(monkeypatch)


@pytest.fixture
def e(env):
    for f in env.fakes.values():
        f.clear()
        f.stream_delay, f.gzip, f.model_override, f.usage, f.chunks = 0.0, False, None, UsageSpec(), 4
    return env


def oa(env, listener="main", headers=None):
    return openai.OpenAI(base_url=env.url(listener) + "/v1", api_key="sk-test", max_retries=0,
                         default_headers={HEADER: env.key, **(headers or {})})


def an(env):
    return anthropic.Anthropic(base_url=env.url(), api_key="sk-ant-test", max_retries=0,
                               default_headers={HEADER: env.key})


def raw(env, listener="main", **kw):
    return httpx2.Client(base_url=env.url(listener), headers={HEADER: env.key}, timeout=20, **kw)


# ---------------------------------------------------------------- expectations
def expected_cost(model, provider, inp, out, cache_read=None, cache_write=None, reasoning=None) -> Decimal:
    usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cache_read,
                  cache_write_tokens=cache_write, output_reasoning_tokens=reasoning)
    return calc_price(usage, model, provider_id=provider).total_price


def check_row(row, *, provider, api, model, inp, out, cache_read, cache_write, reasoning, streamed,
              request_model=None, status=200, outcome="forwarded", cost=None, source="genai-prices"):
    assert (row["provider"], row["api"], row["model"]) == (provider, api, model)
    if request_model is not None:
        assert row["request_model"] == request_model
    assert (row["status"], row["outcome"], row["streamed"], row["partial"]) == (status, outcome, int(streamed), 0)
    assert (row["input_tokens"], row["output_tokens"]) == (inp, out)
    assert (row["cache_read_tokens"], row["cache_write_tokens"], row["reasoning_tokens"]) == (
        cache_read, cache_write, reasoning)
    if cost is None:
        cost = expected_cost(model, provider, inp, out, cache_read, cache_write, reasoning)
    assert (row["pricing"], row["cost_source"]) == ("priced", source)
    assert Decimal(row["cost_usd"]) == cost and cost > 0
    assert row["key_id"] and row["account"] == "acme" and row["error"] is None
    assert "?" not in row["path"]


METER_COLS = ("model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
              "reasoning_tokens", "cost_usd", "pricing", "cost_source", "usage_json")


def same_usage(*rows):
    firsts = [tuple(r[c] for c in METER_COLS) for r in rows]
    assert all(f == firsts[0] for f in firsts), firsts


def msgs(text="hi"):
    return [{"role": "user", "content": text}]


# ---------------------------------------------------------------- 1. every API family, streamed and not
def test_openai_chat_sdk_all_three_ways_served_model_wins(e):
    e.fake.model_override = "gpt-4o-mini-2024-07-18"
    client = oa(e)
    m = e.mark()
    r = client.chat.completions.create(model="gpt-4o-mini", messages=msgs())
    u = r.usage
    with_usage = list(client.chat.completions.create(model="gpt-4o-mini", messages=msgs(), stream=True,
                                                     stream_options={"include_usage": True}))
    plain = list(client.chat.completions.create(model="gpt-4o-mini", messages=msgs(), stream=True))
    rows = e.rows(m, 3)
    assert r.model == "gpt-4o-mini-2024-07-18"
    assert with_usage[-1].choices == [] and with_usage[-1].usage == u
    # the client did not ask: it sees no usage chunk, and never a `choices: []` chunk
    assert all(c.choices and c.usage is None for c in plain)
    assert "".join(c.choices[0].delta.content or "" for c in plain) == r.choices[0].message.content
    for row, streamed in zip(rows, (False, True, True)):
        check_row(row, provider="openai", api="chat", model=r.model, request_model="gpt-4o-mini",
                  inp=u.prompt_tokens, out=u.completion_tokens, cache_read=u.prompt_tokens_details.cached_tokens,
                  cache_write=u.prompt_tokens_details.cache_write_tokens,
                  reasoning=u.completion_tokens_details.reasoning_tokens, streamed=streamed)
    same_usage(*rows)
    assert json.loads(e.fake.received[2].body)["stream_options"] == {"include_usage": True}


def test_openai_responses_sdk_streamed_and_not(e):
    client = oa(e)
    m = e.mark()
    r = client.responses.create(model="gpt-4o-mini", input="hi")
    events = list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    rows = e.rows(m, 2)
    assert events[-1].type == "response.completed" and events[-1].response.usage == r.usage
    u = r.usage
    for row, streamed in zip(rows, (False, True)):
        check_row(row, provider="openai", api="responses", model="gpt-4o-mini", inp=u.input_tokens,
                  out=u.output_tokens, cache_read=u.input_tokens_details.cached_tokens,
                  cache_write=u.input_tokens_details.cache_write_tokens,
                  reasoning=u.output_tokens_details.reasoning_tokens, streamed=streamed)
    same_usage(*rows)


def test_openai_embeddings_sdk(e):
    m = e.mark()
    r = oa(e).embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    (row,) = e.rows(m)
    check_row(row, provider="openai", api="embeddings", model="text-embedding-3-small",
              inp=r.usage.prompt_tokens, out=None, cache_read=None, cache_write=None, reasoning=None, streamed=False,
              cost=expected_cost("text-embedding-3-small", "openai", r.usage.prompt_tokens, None))


def test_openai_legacy_completions_sdk_streamed_and_not(e):
    client = oa(e)
    m = e.mark()
    r = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    chunks = list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", stream=True))
    rows = e.rows(m, 2)
    assert all(c.choices and c.usage is None for c in chunks)  # include_usage was injected and hidden
    u = r.usage
    for row, streamed in zip(rows, (False, True)):
        check_row(row, provider="openai", api="completions", model="gpt-3.5-turbo-instruct", inp=u.prompt_tokens,
                  out=u.completion_tokens, cache_read=u.prompt_tokens_details.cached_tokens,
                  cache_write=u.prompt_tokens_details.cache_write_tokens,
                  reasoning=u.completion_tokens_details.reasoning_tokens, streamed=streamed)
    same_usage(*rows)


def test_anthropic_messages_sdk_streamed_and_not_with_cache(e):
    e.fake.model_override = "claude-sonnet-4-5-20250929"
    client = an(e)
    m = e.mark()
    msg = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=msgs())
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=msgs()) as s:
        final = s.get_final_message()
    rows = e.rows(m, 2)
    u = msg.usage
    assert final.usage.cache_read_input_tokens == u.cache_read_input_tokens and final.usage.output_tokens == u.output_tokens
    total_in = u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens
    assert total_in == U.input and u.input_tokens < total_in
    for row, streamed in zip(rows, (False, True)):
        check_row(row, provider="anthropic", api="messages", model=msg.model, request_model="claude-sonnet-4-5",
                  inp=total_in, out=u.output_tokens, cache_read=u.cache_read_input_tokens,
                  cache_write=u.cache_creation_input_tokens, reasoning=None, streamed=streamed)
    same_usage(*rows)


def gemini_path(stream=False, model="gemini-2.5-flash"):
    return f"/v1beta/models/{model}:{'streamGenerateContent' if stream else 'generateContent'}"


GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_gemini_generate_sse_and_json_array_byte_identical(e, recorded):
    m = e.mark()
    with raw(e) as c:
        whole = c.post(gemini_path(), json=GEMINI_BODY, headers={"x-goog-api-key": "g-test"})
        bodies = []
        for query in ("?alt=sse", ""):
            with c.stream("POST", gemini_path(True) + query, json=GEMINI_BODY) as r:
                assert r.status_code == 200
                bodies.append((r.headers["x-fake-request-id"], b"".join(r.iter_raw())))
    rows = e.rows(m, 3)
    assert whole.content == recorded[whole.headers["x-fake-request-id"]]
    for rid, body in bodies:
        assert body == recorded[rid]
    meta = whole.json()["usageMetadata"]
    last_sse = json.loads(bodies[0][1].strip().split(b"\r\n\r\n")[-1][len(b"data: "):])
    assert last_sse["usageMetadata"] == meta and json.loads(bodies[1][1])[-1]["usageMetadata"] == meta
    for row, streamed in zip(rows, (False, True, True)):
        check_row(row, provider="google", api="generate", model="gemini-2.5-flash",
                  inp=meta["promptTokenCount"], out=meta["candidatesTokenCount"] + meta["thoughtsTokenCount"],
                  cache_read=meta["cachedContentTokenCount"], cache_write=None,
                  reasoning=meta["thoughtsTokenCount"], streamed=streamed)
        assert row["path"] == gemini_path(streamed)
    same_usage(*rows)


@pytest.mark.parametrize("flavor", list(FLAVORS))
def test_openai_compatible_flavors(e, flavor):
    model = FLAVORS[flavor]
    client = oa(e, flavor, headers={"x-fake-flavor": flavor})
    m = e.mark()
    r = client.chat.completions.create(model=model, messages=msgs())
    chunks = list(client.chat.completions.create(model=model, messages=msgs(), stream=True))
    rows = e.rows(m, 2)
    assert all(c.choices for c in chunks)
    u = r.usage
    extra = u.model_extra or {}
    if flavor == "groq":
        assert r.model_extra["x_groq"]["usage"]["prompt_tokens"] == u.prompt_tokens
    if flavor == "deepseek":
        assert extra["prompt_cache_hit_tokens"] == u.prompt_tokens_details.cached_tokens
    cost = Decimal(str(extra["cost"])) if flavor == "openrouter" else None
    provider = "openai" if flavor == "openrouter" else flavor  # what genai-prices knows the model under
    for row, streamed in zip(rows, (False, True)):
        check_row(row, provider=flavor, api="chat", model=model, inp=u.prompt_tokens, out=u.completion_tokens,
                  cache_read=u.prompt_tokens_details.cached_tokens,
                  cache_write=u.prompt_tokens_details.cache_write_tokens,
                  reasoning=u.completion_tokens_details.reasoning_tokens, streamed=streamed,
                  cost=cost or expected_cost(model, provider, u.prompt_tokens, u.completion_tokens,
                                             u.prompt_tokens_details.cached_tokens,
                                             u.prompt_tokens_details.cache_write_tokens,
                                             u.completion_tokens_details.reasoning_tokens),
                  source="provider" if flavor == "openrouter" else "genai-prices")
    same_usage(*rows)
    assert len(e.fakes[flavor].received) == 2 and e.fake.received == []


# ---------------------------------------------------------------- 2. byte-identical content
STREAMS = {
    "chat+include_usage": ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": msgs(), "stream": True,
                                                    "stream_options": {"include_usage": True}}),
    "responses": ("/v1/responses", {"model": "gpt-4o-mini", "input": "hi", "stream": True}),
    "anthropic": ("/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 9, "messages": msgs(),
                                   "stream": True}),
    "gemini-array": (gemini_path(True), GEMINI_BODY),
}


@pytest.mark.parametrize("use_gzip", [False, True], ids=["identity", "gzip"])
@pytest.mark.parametrize("name", list(STREAMS))
def test_streams_reach_the_client_byte_identical(e, recorded, name, use_gzip):
    e.fake.gzip = use_gzip
    path, body = STREAMS[name]
    m = e.mark()
    with raw(e) as c, c.stream("POST", path, json=body, headers={"accept-encoding": "gzip"}) as r:
        encoded = b"".join(r.iter_raw())
        rid = r.headers["x-fake-request-id"]
        assert r.headers.get("content-encoding") == ("gzip" if use_gzip else None)
    (row,) = e.rows(m)
    assert (gzip.decompress(encoded) if use_gzip else encoded) == recorded[rid]
    assert row["streamed"] == 1 and row["partial"] == 0 and row["outcome"] == "forwarded"
    assert row["input_tokens"] == U.input and row["pricing"] == "priced"


@pytest.mark.parametrize("use_gzip", [False, True], ids=["identity", "gzip"])
def test_injected_include_usage_hides_exactly_the_usage_chunk(e, recorded, use_gzip):
    e.fake.gzip = use_gzip
    sent = json.dumps({"model": "gpt-4o-mini", "messages": msgs(), "stream": True}).encode()
    m = e.mark()
    with raw(e) as c, c.stream("POST", "/v1/chat/completions", content=sent,
                               headers={"content-type": "application/json", "accept-encoding": "gzip"}) as r:
        got = b"".join(r.iter_bytes())  # decoded
        rid = r.headers["x-fake-request-id"]
    (row,) = e.rows(m)
    upstream = e.fake.received[0].json()
    assert upstream["stream_options"] == {"include_usage": True}
    assert {k: v for k, v in upstream.items() if k != "stream_options"} == json.loads(sent)
    events = recorded[rid].split(b"\n\n")
    usage_only = [ev for ev in events if b'"choices":[]' in ev]
    assert len(usage_only) == 1
    assert got == b"\n\n".join(ev for ev in events if ev not in usage_only)
    for ev in got.split(b"\n\n"):
        if ev.startswith(b"data: {"):
            assert json.loads(ev[6:])["choices"]
    assert got.endswith(b"data: [DONE]\n\n")
    check_row(row, provider="openai", api="chat", model="gpt-4o-mini", inp=U.input, out=U.output,
              cache_read=U.cache_read, cache_write=U.cache_write, reasoning=U.reasoning, streamed=True)


def test_non_streamed_gzip_body_identical_and_metered(e, recorded):
    e.fake.gzip = True
    m = e.mark()
    with raw(e) as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": msgs()},
                   headers={"accept-encoding": "gzip"})
    (row,) = e.rows(m)
    assert r.headers["content-encoding"] == "gzip" and r.content == recorded[r.headers["x-fake-request-id"]]
    assert row["input_tokens"] == U.input and row["output_tokens"] == U.output and row["streamed"] == 0


# ---------------------------------------------------------------- 3. no buffering
@pytest.mark.parametrize("path,body", [
    ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": msgs(), "stream": True}),  # strip mode
    STREAMS["anthropic"],
], ids=["chat-injected", "anthropic"])
def test_streams_are_not_buffered(e, path, body):
    m = e.mark()
    t0 = time.monotonic()
    first = None
    with raw(e) as c, c.stream("POST", path, json=body,
                               headers={"x-fake-stream-delay": "0.2", "x-fake-chunks": "5"}) as r:
        for chunk in r.iter_raw():
            if chunk and first is None:
                first = time.monotonic() - t0
    total = time.monotonic() - t0
    (row,) = e.rows(m)
    assert total > 1.0 and first < total / 2, (first, total)
    assert row["ttfb_ms"] < row["latency_ms"] / 2 and row["input_tokens"] == U.input


# ---------------------------------------------------------------- 4. unknown model and overrides
def test_unknown_model_unpriced_and_override_priced(e):
    client = oa(e)
    m = e.mark()
    client.chat.completions.create(model="my-private-model-y", messages=msgs())
    list(client.chat.completions.create(model="my-private-model-y", messages=msgs(), stream=True))
    r = client.chat.completions.create(model=PRIVATE, messages=msgs())
    rows = e.rows(m, 3)
    for row in rows[:2]:
        assert (row["model"], row["pricing"], row["cost_usd"], row["cost_source"]) == (
            "my-private-model-y", "unpriced", None, None)
        assert row["input_tokens"] == U.input and row["outcome"] == "forwarded"
    u = r.usage
    cached = u.prompt_tokens_details.cached_tokens
    want = ((u.prompt_tokens - cached) * Decimal("2.5") + cached * Decimal("0.25")
            + u.completion_tokens * 10) / 1_000_000
    assert (rows[2]["pricing"], rows[2]["cost_source"]) == ("priced", "override")
    assert Decimal(rows[2]["cost_usd"]) == want
    with sqlite3.connect(e.db_path) as c:  # NULL in SQL too, never "0"
        assert c.execute("SELECT count(*) FROM calls WHERE id > ? AND cost_usd IS NULL", (m,)).fetchone()[0] == 2


# ---------------------------------------------------------------- 5. failures
def test_client_disconnect_mid_stream_is_recorded_aborted(e):
    m = e.mark()
    with raw(e) as c, c.stream("POST", "/v1/messages", json=STREAMS["anthropic"][1],
                               headers={"x-fake-stream-delay": "0.4", "x-fake-chunks": "6"}) as r:
        first = next(r.iter_raw())
        assert b"message_start" in first
    (row,) = e.rows(m)
    assert (row["outcome"], row["partial"], row["streamed"]) == ("aborted", 1, 1)
    assert row["input_tokens"] == U.input and row["cache_read_tokens"] == U.cache_read
    assert row["output_tokens"] is None  # message_start's placeholder is not a count
    assert row["model"] == "claude-sonnet-4-5" and "Client disconnected" in row["error"]


@pytest.mark.parametrize("client_asked", [False, True])
def test_client_hanging_up_at_finish_reason_still_gets_its_usage_metered(e, client_asked):
    """A naive client stops reading at finish_reason; the usage chunk (asked for by the proxy
    or by the client) comes 0.3 s later. The proxy held finish_reason back until it came."""
    m = e.mark()
    body = {"model": "gpt-4o-mini", "messages": msgs(), "stream": True}
    if client_asked:
        body["stream_options"] = {"include_usage": True}
    got = b""
    with raw(e) as c, c.stream("POST", "/v1/chat/completions", json=body, headers={"x-fake-stream-delay": "0.3"}) as r:
        for chunk in r.iter_raw():
            got += chunk
            if b'"finish_reason":"' in got.replace(b" ", b""):
                break  # hang up
    (row,) = e.rows(m)
    assert row["streamed"] and row["input_tokens"] == U.input and row["output_tokens"] and row["pricing"] == "priced"
    assert (b'"usage":{' in got.replace(b" ", b"")) == client_asked  # the injected chunk stays hidden


def test_upstream_reset_mid_stream_is_partial_upstream_error(e):
    m = e.mark()
    with raw(e) as c:
        with pytest.raises(httpx2.HTTPError):
            with c.stream("POST", "/v1/chat/completions", headers={"x-fake-fault": "reset:3"},
                          json={"model": "gpt-4o-mini", "messages": msgs(), "stream": True}) as r:
                b"".join(r.iter_raw())
    (row,) = e.rows(m)
    assert (row["outcome"], row["partial"], row["streamed"], row["status"]) == ("upstream_error", 1, 1, 200)
    assert row["input_tokens"] is None and row["pricing"] == "unmetered" and row["cost_usd"] is None
    assert row["error"]


def test_upstream_500_is_unmetered_upstream_error(e):
    m = e.mark()
    with pytest.raises(openai.InternalServerError):
        oa(e, headers={"x-fake-fault": "500"}).chat.completions.create(model="gpt-4o-mini", messages=msgs())
    (row,) = e.rows(m)
    assert (row["status"], row["outcome"], row["pricing"], row["cost_usd"]) == (500, "upstream_error", "unmetered", None)
    assert row["input_tokens"] is None and row["partial"] == 0


def test_connection_refused_is_502_upstream_error(e):
    m = e.mark()
    with pytest.raises(openai.APIStatusError) as exc:
        oa(e, "refused").chat.completions.create(model="gpt-4o-mini", messages=msgs())
    assert exc.value.status_code == 502
    (row,) = e.rows(m)
    assert (row["status"], row["outcome"], row["pricing"], row["request_model"]) == (
        502, "upstream_error", "unmetered", "gpt-4o-mini")
    assert row["error"]


# ---------------------------------------------------------------- 6. saved flows for mitmweb
def test_saved_flows_are_annotated_and_hold_no_key(make_proxy, fake, account_key, tmp_path):
    dump = tmp_path / "flows.mitm"
    proxy = make_proxy({"main": f"reverse:{fake.url}@{{port}}"}, extra_args=["-w", str(dump)])
    client = openai.OpenAI(base_url=proxy.url("main") + "/v1", api_key="sk-test", max_retries=0,
                           default_headers={HEADER: account_key.key})
    client.chat.completions.create(model="gpt-4o-mini", messages=msgs())
    list(client.chat.completions.create(model="gpt-4o-mini", messages=msgs(), stream=True))
    client.chat.completions.create(model="my-private-model-y", messages=msgs())
    with pytest.raises(openai.AuthenticationError):
        client.with_options(default_headers={HEADER: keys.generate_key()}).embeddings.create(
            model="text-embedding-3-small", input="x")
    proxy.stop()
    data = dump.read_bytes()
    assert account_key.key.encode() not in data and HEADER.encode() not in data.lower()
    with open(dump, "rb") as f:
        flows = list(mio.FlowReader(f).stream())
    assert len(flows) == 4
    for fl in flows[:2]:
        assert fl.comment.startswith("$0.00033 · gpt-4o-mini · ") and "1,200 in (400 cached)" in fl.comment
        assert "300 out (50 reasoning)" in fl.comment and "gpt-4o-mini" in fl.comment
    assert flows[2].comment.startswith("unpriced · my-private-model-y") and flows[2].marked == ":interrobang:"
    assert flows[3].response.status_code == 401 and flows[3].marked == ":heavy_multiplication_x:"
    assert "unknown key" in flows[3].comment
    for fl in flows:
        assert HEADER not in fl.request.headers
