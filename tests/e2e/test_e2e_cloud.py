"""Azure OpenAI and Vertex AI through a real mitmdump in regular mode (HTTPS_PROXY style).

The clients name the real hosts (`myres.openai.azure.com`, `us-east5-aiplatform.googleapis.com`)
and trust the proxy's CA; the default host patterns make the proxy intercept exactly those, and
a test script behind the addon sends the flows on to the local fake provider, which speaks
Azure's and Vertex's wire formats. Official SDKs where they run offline: `openai.AzureOpenAI`,
`openai.OpenAI` on Azure's `/openai/v1/`, `anthropic.AnthropicVertex` with an access token
(no google-auth needed); Gemini on Vertex with raw HTTP (google-genai is not installed).
"""

from __future__ import annotations

import json
import ssl
from decimal import Decimal

import anthropic
import httpx2
import openai
import pytest
from genai_prices import Usage, calc_price

from aispendtrack.config import Config
from aispendtrack.demo.fake.server import FakeProvider, UsageSpec
from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import open_store
from support.harness import REPO, Proxy, database_with_key, record_replies
from support.ledger_rows import last_id, rows_after
from support.module_fake import module_fake
from support.tls_origin import through_tunnel

U = UsageSpec()  # 1200 in (400 cache reads, 100 cache writes), 300 out (50 reasoning)
AZURE = "https://myres.openai.azure.com"
VERTEX_HOST = "us-east5-aiplatform.googleapis.com"
VERTEX = f"https://{VERTEX_HOST}/v1/projects/my-proj/locations/us-east5/publishers"
MSG = [{"role": "user", "content": "why is the sky blue?"}]


class Gateway:
    def __init__(self, tmp, fake: FakeProvider):
        self.db_path, self.key = database_with_key(tmp, "cloud")
        with open_store(self.db_path) as store:
            self.narrowed = store.create_key("acme", Config(), name="cheap-only", models=("cheap-*",)).key
        config = '[azure.deployments]\n"prod-ft" = "gpt-4o-mini"\n'
        self.proxy = Proxy(tmp, self.db_path, modes={"regular": "regular@{port}"}, config_text=config,
                           extra_args=["-s", str(REPO / "tests" / "support" / "redirect_upstream.py")],
                           env={"AISPENDTRACK_TEST_UPSTREAM": f"127.0.0.1:{fake.port}"}).start()

    def http(self, **kw) -> httpx2.Client:
        return httpx2.Client(proxy=self.proxy.url("regular"), timeout=20,
                             verify=ssl.create_default_context(cafile=str(self.proxy.ca_cert)), **kw)

    def mark(self) -> int:
        return last_id(self.db_path)

    def rows(self, mark: int, n: int = 1) -> list[dict]:
        return rows_after(self.db_path, mark, n, 10)


fake = module_fake()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, fake):
    g = Gateway(tmp_path_factory.mktemp("cloud"), fake)
    yield g
    g.proxy.stop()


@pytest.fixture(autouse=True)
def sent(fake, monkeypatch):
    fake.clear()
    return record_replies(monkeypatch)


def azure_client(gw, api_version="2024-10-21") -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=AZURE, api_version=api_version, api_key="azure-key", max_retries=0,
                              http_client=gw.http(), default_headers={HEADER: gw.key})


def expected_cost(model: str, provider: str, *, out: int = U.output, cached: bool = True) -> Decimal:
    usage = Usage(input_tokens=U.input, output_tokens=out, cache_read_tokens=U.cache_read if cached else None,
                  cache_write_tokens=U.cache_write if cached else None)
    return calc_price(usage, model, provider_id=provider).total_price


def check(row, *, provider, api, model, cost, streamed, out=U.output, cache_write=U.cache_write,
          reasoning=U.reasoning):
    assert (row["provider"], row["api"], row["model"], row["status"], row["outcome"]) == (
        provider, api, model, 200, "forwarded")
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["cache_write_tokens"],
            row["reasoning_tokens"]) == (U.input, out, U.cache_read, cache_write, reasoning)
    assert (row["streamed"], row["partial"], row["error"], row["pricing"]) == (int(streamed), 0, None, "priced")
    assert Decimal(row["cost_usd"]) == cost and cost > 0


def test_azure_openai_sdk_deployment_chat_streamed_and_not(gw, fake, sent):
    m = gw.mark()
    client = azure_client(gw)
    r = client.chat.completions.create(model="prod-4o", messages=MSG)
    chunks = list(client.chat.completions.create(model="prod-4o", messages=MSG, stream=True,
                                                 stream_options={"include_usage": True}))
    plain = list(client.chat.completions.create(model="prod-4o", messages=MSG, stream=True))
    rows = gw.rows(m, 3)
    assert r.model == "gpt-4o-2024-08-06" and r.usage.prompt_tokens == U.input
    first, second, third = fake.received
    assert first.path.startswith("/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21")
    assert first.header(HEADER) is None and first.header("api-key") == "azure-key"
    assert chunks[0].choices == [] and chunks[-1].usage.completion_tokens == U.output
    cost = expected_cost("gpt-4o-2024-08-06", "azure")
    for row, streamed in zip(rows, (False, True, True)):
        check(row, provider="azure", api="chat", model="gpt-4o-2024-08-06", cost=cost, streamed=streamed)
        assert row["request_model"] == "prod-4o"
    # the client asked for no usage: the proxy asked (this api-version takes it) and removed the chunk
    assert json.loads(third.body)["stream_options"] == {"include_usage": True}
    assert all(c.usage is None for c in plain) and plain[-1].choices[0].finish_reason == "stop"
    assert plain[0].choices == [] and plain[0].prompt_filter_results  # Azure's opening chunk kept


def test_azure_stream_is_forwarded_byte_for_byte(gw, fake, sent):
    body = {"messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    with gw.http(headers={HEADER: gw.key, "api-key": "k"}) as c:
        with c.stream("POST", f"{AZURE}/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21",
                      json=body) as r:
            got = b"".join(r.iter_raw())
    assert got == sent[fake.received[0].request_id]


def test_azure_old_api_version_is_not_sent_stream_options_and_its_stream_is_unmetered(gw, fake):
    m = gw.mark()
    client = azure_client(gw, api_version="2024-06-01")
    chunks = list(client.chat.completions.create(model="prod-4o", messages=MSG, stream=True))
    (row,) = gw.rows(m)
    assert "stream_options" not in json.loads(fake.received[0].body)  # 2024-06-01 would answer 400
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert (row["provider"], row["outcome"], row["pricing"], row["cost_usd"]) == ("azure", "forwarded", "unmetered",
                                                                                  None)


def test_azure_embeddings_and_the_v1_responses_form(gw, fake):
    m = gw.mark()
    emb = azure_client(gw).embeddings.create(model="emb-small", input="hello")
    v1 = openai.OpenAI(base_url=f"{AZURE}/openai/v1/", api_key="azure-key", max_retries=0, http_client=gw.http(),
                       default_headers={HEADER: gw.key})
    resp = v1.responses.create(model="prod-4o", input="hello")
    emb_row, resp_row = gw.rows(m, 2)
    assert emb.usage.prompt_tokens == U.input and resp.usage.input_tokens == U.input
    assert fake.received[1].path == "/openai/v1/responses"
    assert (emb_row["provider"], emb_row["api"], emb_row["model"], emb_row["input_tokens"]) == (
        "azure", "embeddings", "text-embedding-3-small", U.input)
    assert Decimal(emb_row["cost_usd"]) == calc_price(Usage(input_tokens=U.input), "text-embedding-3-small",
                                                      provider_id="azure").total_price
    check(resp_row, provider="azure", api="responses", model="gpt-4o-2024-08-06",
          cost=expected_cost("gpt-4o-2024-08-06", "azure"), streamed=False)


def test_azure_deployments_map_prices_a_model_the_price_list_does_not_know(gw, fake):
    m = gw.mark()
    client = azure_client(gw)
    client.chat.completions.create(model="prod-ft", messages=MSG, extra_headers={"x-fake-model": "acme-ft-7"})
    client.chat.completions.create(model="other-ft", messages=MSG, extra_headers={"x-fake-model": "acme-ft-7"})
    mapped, unmapped = gw.rows(m, 2)
    check(mapped, provider="azure", api="chat", model="gpt-4o-mini", cost=expected_cost("gpt-4o-mini", "azure"),
          streamed=False)
    assert (unmapped["model"], unmapped["pricing"], unmapped["cost_usd"]) == ("acme-ft-7", "unpriced", None)


def vertex_client(gw) -> anthropic.AnthropicVertex:
    return anthropic.AnthropicVertex(region="us-east5", project_id="my-proj", access_token="ya29.token",
                                     max_retries=0, http_client=gw.http(), default_headers={HEADER: gw.key})


def test_claude_on_vertex_with_the_anthropic_sdk(gw, fake, sent):
    m = gw.mark()
    client = vertex_client(gw)
    msg = client.messages.create(model="claude-sonnet-4-5@20250929", max_tokens=400, messages=MSG)
    with client.messages.stream(model="claude-sonnet-4-5@20250929", max_tokens=400, messages=MSG,
                                thinking={"type": "enabled", "budget_tokens": 200}) as s:
        final = s.get_final_message()
    whole, streamed = gw.rows(m, 2)
    first, second = fake.received
    assert first.path.endswith("/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict")
    assert second.path.endswith(":streamRawPredict")
    assert first.header("authorization") == "Bearer ya29.token" and first.header(HEADER) is None
    assert "model" not in json.loads(first.body) and json.loads(first.body)["anthropic_version"]
    assert msg.usage.cache_read_input_tokens == U.cache_read and final.content[0].type == "thinking"
    cost = expected_cost("claude-sonnet-4-5@20250929", "google")
    # Claude's thinking is inside output_tokens, not reported apart
    check(whole, provider="google", api="messages", model="claude-sonnet-4-5@20250929", cost=cost,
          streamed=False, reasoning=None)
    check(streamed, provider="google", api="messages", model="claude-sonnet-4-5@20250929", cost=cost,
          streamed=True, reasoning=None)


def test_claude_on_vertex_stream_byte_for_byte(gw, fake, sent):
    body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 50, "stream": True, "messages": MSG}
    with gw.http(headers={HEADER: gw.key, "authorization": "Bearer t"}) as c:
        with c.stream("POST", f"{VERTEX}/anthropic/models/claude-3-5-sonnet-v2@20241022:streamRawPredict",
                      json=body) as r:
            got = b"".join(r.iter_raw())
    assert got == sent[fake.received[0].request_id]


@pytest.mark.parametrize("verb", ["generateContent", "streamGenerateContent?alt=sse", "streamGenerateContent"])
def test_gemini_on_vertex(gw, fake, sent, verb):
    m = gw.mark()
    body = {"contents": [{"role": "user", "parts": [{"text": "why is the sky blue?"}]}]}
    with gw.http(headers={HEADER: gw.key, "authorization": "Bearer t"}) as c:
        with c.stream("POST", f"{VERTEX}/google/models/gemini-2.5-pro:{verb}", json=body) as r:
            got = b"".join(r.iter_raw())
    (row,) = gw.rows(m)
    assert got == sent[fake.received[0].request_id]
    usage = Usage(input_tokens=U.input, output_tokens=U.output, cache_read_tokens=U.cache_read)
    check(row, provider="google", api="generate", model="gemini-2.5-pro", streamed=verb != "generateContent",
          cost=calc_price(usage, "gemini-2.5-pro", provider_id="google").total_price, cache_write=None)


def test_a_vertex_call_the_gateway_cannot_parse_is_forwarded_unmetered(gw, fake):
    m = gw.mark()
    body = {"anthropic_version": "vertex-2023-10-16", "messages": MSG}
    with gw.http(headers={HEADER: gw.key, "authorization": "Bearer t"}) as c:
        r = c.post(f"{VERTEX}/anthropic/models/count-tokens:rawPredict", json=body)
    (row,) = gw.rows(m)
    assert r.status_code == 200 and r.json() == {"input_tokens": U.input}
    assert (row["provider"], row["api"], row["outcome"], row["pricing"], row["cost_usd"]) == (
        "google", "other", "forwarded", "unmetered", None)


def test_a_key_narrowed_to_deployments_cannot_reach_another_by_its_path(gw, fake):
    client = openai.AzureOpenAI(azure_endpoint=AZURE, api_version="2024-10-21", api_key="k", max_retries=0,
                                http_client=gw.http(), default_headers={HEADER: gw.narrowed})
    assert client.chat.completions.create(model="cheap-4o", messages=MSG).usage.prompt_tokens == U.input
    with pytest.raises(openai.PermissionDeniedError, match="expensive-4o"):
        client.chat.completions.create(model="expensive-4o", messages=MSG)
    with gw.http(headers={HEADER: gw.narrowed, "api-key": "k"}) as c:  # the body names an allowed one
        r = c.post(f"{AZURE}/openai/deployments/expensive-4o/chat/completions?api-version=2024-10-21",
                   json={"model": "cheap-4o", "messages": MSG})
    assert r.status_code == 403 and r.json()["error"]["code"] == "model_not_allowed"
    assert [req.path.split("?")[0] for req in fake.received] == ["/openai/deployments/cheap-4o/chat/completions"]


def test_a_pattern_host_still_needs_a_key(gw, fake):
    with pytest.raises(openai.AuthenticationError):
        openai.AzureOpenAI(azure_endpoint=AZURE, api_version="2024-10-21", api_key="k", max_retries=0,
                           http_client=gw.http()).chat.completions.create(model="prod-4o", messages=MSG)
    assert fake.received == []


@pytest.mark.parametrize("sni", ["a.b.openai.azure.com", "myres.openai.azure.com.evil.test", "openai.azure.com",
                                 "evil-aiplatform.googleapis.com.evil.test"])
def test_hosts_outside_the_patterns_are_tunnelled_untouched(gw, tmp_path, sni):
    """The client sees the origin's own certificate: no interception, no key asked for."""
    got = through_tunnel(gw.proxy.ports["regular"], tmp_path, sni, b"POST /openai/v1/chat/completions HTTP/1.1\r\n")
    assert got.endswith(b"origin")


def test_a_pattern_host_is_intercepted_whatever_the_connect_target(gw, tmp_path):
    """The other way round: an SNI the patterns match is intercepted even on a CONNECT to a bare
    IP, so the origin's own certificate is never seen (the proxy's is, which this client rejects)."""
    with pytest.raises(ssl.SSLError, match="(?i)certificate verify failed"):
        through_tunnel(gw.proxy.ports["regular"], tmp_path, "myres.openai.azure.com")
