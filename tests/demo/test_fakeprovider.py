"""The fake provider, driven by the real openai / anthropic SDKs and raw httpx2."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import time

import anthropic
import httpx2
import openai
import pytest

from aispendtrack.demo.fake.server import FakeProvider, Fault, UsageSpec
from support.harness import self_signed

USER = [{"role": "user", "content": "hello fake"}]
U = UsageSpec()  # defaults: input 1200 (total), output 300, cache_read 400, cache_write 100, reasoning 50


@pytest.fixture(scope="module")
def server():
    with FakeProvider().start() as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.clear()
    server.stream_delay, server.chunks, server.gzip = 0.0, 4, False
    server.model_override, server.usage, server.reply_text = None, UsageSpec(), None
    yield server
    server.clear()


@pytest.fixture
def oai(fake):
    with openai.OpenAI(base_url=fake.url + "/v1", api_key="sk-test", max_retries=0) as client:
        yield client


@pytest.fixture
def ant(fake):
    with anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0) as client:
        yield client


def sse_events(text: str, sep: str = "\n\n") -> list[dict]:
    """Parse an SSE body into [{"event": ..., "data": ..., "comment": ...}]."""
    out = []
    for block in text.split(sep):
        if not block.strip():
            continue
        ev: dict = {}
        for line in block.splitlines():
            k, _, v = line.partition(":")
            ev[k or "comment"] = v.strip()
        out.append(ev)
    return out


# ------------------------------------------------------------------ OpenAI
def test_chat_non_stream_usage_and_recording(fake, oai):
    raw = oai.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)
    r = raw.parse()
    assert r.choices[0].message.content == "Fake reply to: hello fake"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (1200, 300, 1500)
    assert u.prompt_tokens_details.cached_tokens == 400
    assert u.completion_tokens_details.reasoning_tokens == 50
    assert r.model == "gpt-4o"
    [rec] = fake.received
    assert raw.headers["x-fake-request-id"] == rec.request_id
    assert rec.method == "POST" and rec.path == "/v1/chat/completions"
    assert rec.header("authorization") == "Bearer sk-test"
    assert rec.json()["messages"] == USER
    assert rec.headers[0][0] == "Host"  # original case and order kept
    assert int(raw.headers["content-length"]) == len(raw.http_response.content)


def test_chat_stream_include_usage(fake, oai):
    fake.usage = UsageSpec(input=10, output=7, cache_read=3, cache_write=0, reasoning=2)
    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=USER, stream=True,
                                              stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Fake reply to: hello fake"
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == [] and last.object == "chat.completion.chunk"
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (10, 7)
    assert last.usage.prompt_tokens_details.cached_tokens == 3
    assert last.usage.completion_tokens_details.reasoning_tokens == 2
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 4


def test_chat_stream_without_usage_and_raw_framing(fake):
    r = httpx2.post(fake.url + "/v1/chat/completions", json={"model": "m", "messages": USER, "stream": True})
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["transfer-encoding"] == "chunked" and "content-length" not in r.headers
    assert r.text.endswith("data: [DONE]\n\n")
    datas = [json.loads(e["data"]) for e in sse_events(r.text) if e["data"] != "[DONE]"]
    assert all("usage" not in d and d["choices"] for d in datas)


@pytest.mark.parametrize("flavor", ["groq", "openrouter", "deepseek"])
def test_flavors(fake, flavor):
    body = {"model": "m", "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    r = httpx2.post(fake.url + "/v1/chat/completions", json=body, headers={"x-fake-flavor": flavor})
    evs = sse_events(r.text)
    datas = [json.loads(e["data"]) for e in evs if "data" in e and e["data"] != "[DONE]"]
    usage = datas[-1]["usage"]
    assert datas[-1]["choices"] == [] and usage["prompt_tokens"] == 1200
    if flavor == "groq":
        finish = datas[-2]
        assert finish["choices"][0]["finish_reason"] == "stop"
        assert finish["x_groq"]["usage"]["prompt_tokens"] == 1200
    elif flavor == "openrouter":
        assert evs[0] == {"comment": "OPENROUTER PROCESSING"}
        assert usage["cost"] == U.cost
    else:
        assert (usage["prompt_cache_hit_tokens"], usage["prompt_cache_miss_tokens"]) == (400, 800)
    nr = httpx2.post(fake.url + "/v1/chat/completions", json={"model": "m", "messages": USER},
                     headers={"x-fake-flavor": flavor}).json()
    assert nr["usage"]["total_tokens"] == 1500
    assert ("x_groq" in nr) == (flavor == "groq")


def test_usage_on_last_chunk_with_choices(fake, oai):
    chunks = list(oai.chat.completions.create(model="m", messages=USER, stream=True,
                                              extra_headers={"x-fake-usage-with-choices": "1"}))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.prompt_tokens == 1200
    assert all(c.choices for c in chunks)


def test_model_override(fake, oai, ant):
    fake.model_override = "gpt-4o-2024-08-06"
    assert oai.chat.completions.create(model="gpt-4o", messages=USER).model == "gpt-4o-2024-08-06"
    fake.model_override = "claude-sonnet-4-6-20260101"
    with ant.messages.stream(model="claude-sonnet-4-6", max_tokens=5, messages=USER) as s:
        assert s.get_final_message().model == "claude-sonnet-4-6-20260101"


def test_responses_non_stream_and_stream(fake, oai):
    r = oai.responses.create(model="gpt-4o", input="hello fake")
    assert r.output_text == "Fake reply to: hello fake"
    assert (r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens) == (1200, 300, 1500)
    assert r.usage.input_tokens_details.cached_tokens == 400
    assert r.usage.output_tokens_details.reasoning_tokens == 50

    with oai.responses.stream(model="gpt-4o", input=[{"role": "user", "content": "hi"}]) as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert "".join(deltas) == final.output_text == "Fake reply to: hi"
    assert final.usage.output_tokens_details.reasoning_tokens == 50

    events = list(oai.responses.create(model="gpt-4o", input="x", stream=True))
    types = [e.type for e in events]
    assert types[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert types[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].response.usage is None and events[-1].response.usage.input_tokens == 1200


def test_embeddings_base64_default_and_float(fake, oai):
    e = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert fake.received[-1].json()["encoding_format"] == "base64"
    assert isinstance(fake.received[-1].body, bytes)
    assert len(e.data) == 2 and len(e.data[0].embedding) == 16
    assert (e.usage.prompt_tokens, e.usage.total_tokens) == (1200, 1200)
    f = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"], encoding_format="float",
                              dimensions=8)
    assert len(f.data[1].embedding) == 8
    assert f.data[0].embedding == pytest.approx(e.data[0].embedding[:8], abs=1e-6)


def test_legacy_completions(fake, oai):
    c = oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="hello fake")
    assert c.choices[0].text == "Fake reply to: hello fake" and c.usage.total_tokens == 1500
    chunks = list(oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="p", stream=True,
                                         stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 300
    assert "".join(ch.choices[0].text for ch in chunks[:-1]) == "Fake reply to: p"


def test_models(fake, oai, ant):
    assert "gpt-4o" in [m.id for m in oai.models.list()]
    assert "claude-sonnet-4-6" in [m.id for m in ant.models.list()]


# ------------------------------------------------------------------ Anthropic
def test_anthropic_non_stream(fake, ant):
    m = ant.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=USER)
    assert m.content[0].text == "Fake reply to: hello fake" and m.stop_reason == "end_turn"
    u = m.usage
    assert (u.input_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens, u.output_tokens) == \
        (700, 100, 400, 300)


def test_anthropic_stream_cumulative_usage_and_thinking(fake, ant):
    with ant.messages.stream(model="claude-sonnet-4-6", max_tokens=2048, messages=USER,
                             thinking={"type": "enabled", "budget_tokens": 1024}) as s:
        kinds = [e.type for e in s]
        m = s.get_final_message()
    assert m.content[0].type == "thinking" and m.content[1].text == "Fake reply to: hello fake"
    u = m.usage
    assert (u.input_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens, u.output_tokens) == \
        (700, 100, 400, 300)
    assert u.output_tokens_details.thinking_tokens == 50
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    # raw wire: message_start output_tokens 1, ping, message_delta carries cumulative totals
    r = httpx2.post(fake.url + "/v1/messages", json={"model": "c", "max_tokens": 5, "messages": USER,
                                                     "stream": True})
    evs = sse_events(r.text)
    names = [e["event"] for e in evs]
    assert names == ["message_start", "content_block_start", "ping"] + ["content_block_delta"] * 4 + [
        "content_block_stop", "message_delta", "message_stop"]
    start = json.loads(evs[0]["data"])["message"]["usage"]
    assert start["output_tokens"] == 1 and start["input_tokens"] == 700
    delta = json.loads(evs[-2]["data"])["usage"]
    assert delta == {"input_tokens": 700, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 400,
                     "output_tokens": 300}


# ------------------------------------------------------------------ Gemini
def test_gemini_generate_and_streams(fake):
    base = fake.url + "/v1beta/models/gemini-2.5-flash"
    req = {"contents": [{"role": "user", "parts": [{"text": "hello fake"}]}]}
    r = httpx2.post(base + ":generateContent", json=req).json()
    assert r["candidates"][0]["content"]["parts"][0]["text"] == "Fake reply to: hello fake"
    um = r["usageMetadata"]
    assert um == {**um, "promptTokenCount": 1200, "candidatesTokenCount": 250, "cachedContentTokenCount": 400,
                  "thoughtsTokenCount": 50, "totalTokenCount": 1500}
    assert r["modelVersion"] == "gemini-2.5-flash"

    s = httpx2.post(base + ":streamGenerateContent?alt=sse", json=req)
    assert s.text.endswith("\r\n\r\n")
    chunks = [json.loads(e["data"]) for e in sse_events(s.text, "\r\n\r\n")]
    assert len(chunks) == 4 and all("usageMetadata" in c for c in chunks)
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 250
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"

    a = httpx2.post(base + ":streamGenerateContent", json=req)
    assert a.text.startswith("[{") and a.text.endswith("\r\n]") and "\r\n,{" in a.text
    arr = json.loads(a.text)
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in arr) == "Fake reply to: hello fake"


def test_ollama_native_api_streams_ndjson_by_default(fake):
    chat = {"model": "llama3.2", "messages": USER}
    with httpx2.stream("POST", fake.url + "/api/chat", json=chat) as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert len(lines) == 5 and not any(o["done"] for o in lines[:-1])
    assert "".join(o["message"]["content"] for o in lines) == "Fake reply to: hello fake"
    last = lines[-1]
    assert last == {**last, "done": True, "done_reason": "stop", "model": "llama3.2", "prompt_eval_count": 1200,
                    "eval_count": 300} and "total_duration" in last and "prompt_eval_cached_count" not in last
    gen = httpx2.post(fake.url + "/api/generate", json={"model": "llama3.2", "prompt": "hi", "stream": False})
    body = gen.json()  # one JSON object, not NDJSON
    assert gen.headers["content-type"].startswith("application/json") and body["done"] is True
    assert (body["response"], body["prompt_eval_count"], body["eval_count"]) == ("Fake reply to: hi", 1200, 300)
    assert isinstance(body["context"], list)


def test_ollama_flavors_embed_and_errors(fake):
    old = httpx2.post(fake.url + "/api/chat", json={"model": "llama3.2", "messages": USER, "stream": False},
                      headers={"x-fake-flavor": "old"}).json()
    assert "prompt_eval_count" not in old and old["eval_count"] == 300
    cached = httpx2.post(fake.url + "/api/generate", json={"model": "llama3.2", "prompt": "hi", "stream": False},
                         headers={"x-fake-flavor": "cached"}).json()
    assert (cached["prompt_eval_count"], cached["prompt_eval_cached_count"]) == (1200, 400)
    embed = httpx2.post(fake.url + "/api/embed", json={"model": "all-minilm", "input": ["a", "b"]}).json()
    assert len(embed["embeddings"]) == 2 and embed["prompt_eval_count"] == 1200 and "eval_count" not in embed
    legacy = httpx2.post(fake.url + "/api/embeddings", json={"model": "all-minilm", "prompt": "a"}).json()
    assert list(legacy) == ["embedding"]
    fake.fail_next.append(Fault.error(404))
    r = httpx2.post(fake.url + "/api/chat", json={"model": "nope", "messages": USER})
    assert r.status_code == 404 and r.json() == {"error": "Fake provider error 404"}


# ------------------------------------------------------------------ errors and faults
def test_error_faults_in_provider_format(fake, oai, ant):
    fake.fail_next.append(Fault.error(500))
    with pytest.raises(openai.InternalServerError) as ei:
        oai.chat.completions.create(model="m", messages=USER)
    assert ei.value.body["type"] == "server_error"
    fake.fail(Fault.error(429, headers=[("retry-after", "7")]))
    with pytest.raises(anthropic.RateLimitError) as ai:
        ant.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=USER)
    assert ai.value.body["error"]["type"] == "rate_limit_error" and ai.value.response.headers["retry-after"] == "7"
    fake.fail(Fault.error(429))
    g = httpx2.post(fake.url + "/v1beta/models/g:generateContent", json={})
    assert g.json() == {"error": {"code": 429, "message": "Fake provider error 429", "status": "RESOURCE_EXHAUSTED"}}
    assert httpx2.post(fake.url + "/v1/nope", json={}).json()["error"]["type"] == "invalid_request_error"
    bad = httpx2.post(fake.url + "/v1/messages", content=b"{nope", headers={"anthropic-version": "x"})
    assert bad.status_code == 400 and bad.json()["type"] == "error"
    # header-driven fault (usable through a proxy), then a normal answer again
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="m", messages=USER, extra_headers={"x-fake-fault": "503"})
    assert oai.chat.completions.create(model="m", messages=USER).usage.total_tokens == 1500


def test_reset_mid_stream(fake, oai):
    fake.fail(Fault.reset(after=3))
    got = []
    with pytest.raises(openai.APIConnectionError):
        for c in oai.chat.completions.create(model="m", messages=USER, stream=True):
            got.append(c)
    assert len(got) == 3
    fake.fail(Fault.reset())
    with pytest.raises(httpx2.RemoteProtocolError):
        httpx2.post(fake.url + "/v1/messages", json={"model": "c", "max_tokens": 5, "messages": USER})


def test_hang_and_slow(fake):
    fake.fail(Fault.hang(after=1))
    with httpx2.Client(timeout=0.3) as c:
        with c.stream("POST", fake.url + "/v1/messages",
                      json={"model": "c", "max_tokens": 5, "messages": USER, "stream": True}) as r:
            assert r.status_code == 200
            with pytest.raises(httpx2.ReadTimeout):
                r.read()
    fake.fail(Fault.slow(0.3))
    t0 = time.monotonic()
    assert httpx2.get(fake.url + "/v1/models").status_code == 200
    assert time.monotonic() - t0 >= 0.3


def test_stream_delay_observable(fake, oai):
    fake.stream_delay = 0.05
    stamps = []
    for _ in oai.chat.completions.create(model="m", messages=USER, stream=True):
        stamps.append(time.monotonic())
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    # the server spaces the chunks; a client read late under load shortens only the gap after it
    assert len(gaps) == 5 and stamps[-1] - stamps[0] >= 0.2 and sorted(gaps)[1] >= 0.04


def test_concurrent_streams(fake):
    fake.stream_delay = 0.05
    client = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)
    results: list = []

    def one():
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=5, messages=USER) as s:
            results.append(s.get_final_message().usage.output_tokens)

    t0 = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    client.close()
    assert results == [300] * 16
    serial = 16 * 10 * 0.05  # 16 streams of ~10 events 0.05 s apart, one after another
    assert time.monotonic() - t0 < serial / 2  # in parallel they take ~0.5 s
    assert len({r.request_id for r in fake.received}) == 16


def test_gzip_streamed_and_not(fake, oai, ant):
    fake.gzip = True
    raw = oai.chat.completions.with_raw_response.create(model="m", messages=USER)
    assert raw.headers["content-encoding"] == "gzip" and raw.parse().usage.total_tokens == 1500
    chunks = list(oai.chat.completions.create(model="m", messages=USER, stream=True,
                                              stream_options={"include_usage": True}))
    assert chunks[-1].usage.prompt_tokens == 1200
    with ant.messages.stream(model="claude-sonnet-4-6", max_tokens=5, messages=USER) as s:
        assert s.get_final_message().usage.cache_read_input_tokens == 400
    with httpx2.stream("POST", fake.url + "/v1/chat/completions",
                       json={"model": "m", "messages": USER, "stream": True}) as r:
        data = b"".join(r.iter_raw())
    assert gzip.decompress(data).endswith(b"data: [DONE]\n\n")


def test_keep_alive_and_chunked_request(fake):
    with httpx2.Client() as c:
        for _ in range(3):
            assert c.get(fake.url + "/v1/models").status_code == 200
        r = c.post(fake.url + "/v1/chat/completions", content=iter([b'{"model": "m", ', b'"messages": []}']))
        assert r.json()["usage"]["total_tokens"] == 1500
    assert len({rec.peer for rec in fake.received}) == 1
    assert fake.received[-1].json() == {"model": "m", "messages": []}


def test_tls(tmp_path):
    certfile = keyfile = self_signed(tmp_path / "cert.pem")
    import ssl

    with FakeProvider(tls=True, certfile=str(certfile), keyfile=str(keyfile)) as fake:
        assert fake.url.startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cafile=str(certfile))
        client = openai.OpenAI(base_url=fake.url + "/v1", api_key="k", max_retries=0,
                               http_client=openai.DefaultHttpxClient(verify=ctx))
        chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True,
                                                     stream_options={"include_usage": True}))
        assert chunks[-1].usage.total_tokens == 1500
        client.close()


def test_loopback_only():
    with pytest.raises(ValueError):
        FakeProvider("0.0.0.0")


def test_cli_main():
    proc = subprocess.Popen([sys.executable, "-m", "aispendtrack.demo.fake", "--port", "0",
                             "--stream-delay", "0.01"], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0) as client:
            assert client.chat.completions.create(model="m", messages=USER).usage.total_tokens == 1500
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()
