"""Azure OpenAI and Vertex AI by host pattern: provider, API and shape of a flow; regular mode's
allow_hosts; the model an Azure call is priced at; which api-versions take stream_options."""

import re
import time
from decimal import Decimal

import pytest
from mitmproxy.test import tflow

from aispendtrack import meter
from aispendtrack.config import Config, parse_config
from aispendtrack.meter.pricing import Pricer
from aispendtrack.proxy import azure, charge, providers
from aispendtrack.proxy.intercept import intercept_patterns
from aispendtrack.proxy.state import FlowState

VERTEX_BASE = "/v1/projects/my-proj/locations/us-central1/publishers"


def flow(host: str, path: str, *, port: int = 443, sni: str | None = None, host_header: str | None = None):
    f = tflow.tflow()
    f.request.host, f.request.port, f.request.path = host, port, path
    f.request.headers["host"] = host_header or host
    f.client_conn.sni = sni
    return f


@pytest.mark.parametrize("host, path, expected", [
    ("myres.openai.azure.com", "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21",
     ("azure", "chat", "openai")),
    ("myres.openai.azure.com", "/openai/deployments/emb/embeddings?api-version=2024-10-21",
     ("azure", "embeddings", "openai")),
    ("myres.openai.azure.com", "/openai/deployments/d/completions?api-version=2024-10-21",
     ("azure", "completions", "openai")),
    ("myres.openai.azure.com", "/openai/responses?api-version=2025-03-01-preview", ("azure", "responses", "openai")),
    ("myres.openai.azure.com", "/openai/v1/chat/completions", ("azure", "chat", "openai")),
    ("myres.openai.azure.com", "/openai/v1/responses", ("azure", "responses", "openai")),
    ("myres.cognitiveservices.azure.com", "/openai/v1/responses", ("azure", "responses", "openai")),
    ("us-central1-aiplatform.googleapis.com", f"{VERTEX_BASE}/google/models/gemini-2.5-pro:generateContent",
     ("google", "generate", "google")),
    ("aiplatform.googleapis.com", f"{VERTEX_BASE}/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
     ("google", "generate", "google")),
    ("us-east5-aiplatform.googleapis.com", f"{VERTEX_BASE}/anthropic/models/claude-sonnet-4-5@20250929:rawPredict",
     ("google", "messages", "anthropic")),
    ("us-east5-aiplatform.googleapis.com",
     f"{VERTEX_BASE}/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
     ("google", "messages", "anthropic")),
    ("us-east5-aiplatform.googleapis.com", f"{VERTEX_BASE}/anthropic/models/count-tokens:rawPredict",
     ("google", "other", "google")),
    ("us-east5-aiplatform.googleapis.com", f"{VERTEX_BASE}/google/models/text-embedding-005:predict",
     ("google", "other", "google")),
])
def test_default_patterns_name_azure_and_vertex(host, path, expected):
    t = providers.identify(flow(host, path), Config())
    assert (t.provider, t.api, t.shape) == expected


@pytest.mark.parametrize("host, sni, host_header", [
    ("openai.azure.com.evil.com", None, None),
    ("a.b.openai.azure.com", None, None),
    ("evil.com", "evil.com", "evil.com"),
    ("aiplatform.googleapis.com.evil.com", None, None),
    ("x.us-aiplatform.googleapis.com", None, None),
])
def test_hosts_outside_the_patterns_are_not_provider_bound(host, sni, host_header):
    assert providers.identify(flow(host, "/openai/v1/chat/completions", sni=sni, host_header=host_header),
                              Config()) is None


def test_a_pattern_host_named_only_by_sni_or_host_header_is_provider_bound():
    path = "/openai/v1/chat/completions"
    assert providers.identify(flow("93.184.216.34", path, sni="MyRes.OpenAI.Azure.com."), Config()).provider == "azure"
    assert providers.identify(flow("93.184.216.34", path, host_header="myres.openai.azure.com:443"),
                              Config()).provider == "azure"


def test_user_patterns_exact_hosts_win_and_upstream_patterns_too():
    config = parse_config({"providers": {"*.llm.corp.example": "openai", "special.llm.corp.example": "groq"},
                           "upstreams": {"*.gpu.corp.example:8000": "openai"}})
    assert providers.identify(flow("a.llm.corp.example", "/v1/chat/completions"), config).provider == "openai"
    assert providers.identify(flow("special.llm.corp.example", "/v1/chat/completions"), config).provider == "groq"
    assert providers.identify(flow("n1.gpu.corp.example", "/v1/chat/completions", port=8000), config) is not None
    assert providers.identify(flow("n1.gpu.corp.example", "/v1/chat/completions", port=8001), config) is None
    # hosts given replace the defaults, patterns included
    assert providers.identify(flow("myres.openai.azure.com", "/openai/v1/responses"), config) is None


def test_allow_hosts_intercepts_exactly_the_pattern_hosts():
    pats = intercept_patterns(Config(), ["regular@8082"])

    def intercepted(hostport):
        return any(re.search(p, hostport, re.IGNORECASE) for p in pats)

    for yes in ("myres.openai.azure.com:443", "MYRES.openai.azure.com.:443", "x.cognitiveservices.azure.com:443",
                "us-central1-aiplatform.googleapis.com:443", "aiplatform.googleapis.com:443",
                "aiplatform.eu.rep.googleapis.com:443", "api.openai.com:443"):
        assert intercepted(yes), yes
    for no in ("openai.azure.com:443", "a.b.openai.azure.com:443", "myres.openai.azure.com.evil.com:443",
               "evil.com:443", "storage.googleapis.com:443", "x.blob.core.windows.net:443",
               "aiplatform.googleapis.com.evil.com:443", "www.googleapis.com:443"):
        assert not intercepted(no), no


@pytest.mark.parametrize("path, expected", [
    ("/openai/deployments/d/chat/completions?api-version=2024-10-21", True),
    ("/openai/deployments/d/chat/completions?api-version=2024-09-01-preview", True),
    ("/openai/deployments/d/chat/completions?api-version=2025-04-01-preview", True),
    ("/openai/deployments/d/chat/completions?api-version=2024-06-01", False),
    ("/openai/deployments/d/chat/completions?api-version=2024-08-01-preview", False),
    ("/openai/deployments/d/chat/completions", False),
    ("/openai/deployments/d/chat/completions?api-version=latest", False),
    ("/openai/v1/chat/completions", True),
    ("/openai/v1/chat/completions?api-version=preview", True),
])
def test_stream_options_only_for_api_versions_that_take_it(path, expected):
    assert azure.takes_stream_options(path) is expected


KNOWN = {"gpt-4o-2024-08-06", "gpt-4o", "gpt-4o-mini"}.__contains__


@pytest.mark.parametrize("answered, requested, path, deployments, expected", [
    ("gpt-4o-2024-08-06", "prod", "/openai/deployments/prod/chat/completions", {}, "gpt-4o-2024-08-06"),
    ("gpt-4o-2024-08-06", "prod", "/openai/deployments/prod/chat/completions", {"prod": "gpt-4o-mini"},
     "gpt-4o-2024-08-06"),  # the response names a known model: that one served
    (None, "prod", "/openai/deployments/prod/chat/completions", {"prod": "gpt-4o-mini"}, "gpt-4o-mini"),
    ("my-ft-model", "prod", "/openai/deployments/prod/chat/completions", {"prod": "gpt-4o"}, "gpt-4o"),
    ("my-ft-model", None, "/openai/deployments/prod/chat/completions", {}, "my-ft-model"),
    (None, "prod", "/openai/v1/chat/completions", {"prod": "gpt-4o"}, "gpt-4o"),  # v1: the body names it
    (None, "prod", "/openai/deployments/other/chat/completions", {"prod": "gpt-4o"}, "prod"),
    (None, None, "/openai/deployments/my%2Ddep/embeddings", {"my-dep": "gpt-4o"}, "gpt-4o"),
])
def test_azure_model_priced(answered, requested, path, deployments, expected):
    assert azure.served_model(answered, requested, path, deployments, KNOWN) == expected


def test_azure_and_vertex_are_priced_from_genai_prices():
    pricer = Pricer()
    m = meter.meter_body("azure", "chat", b'{"model": "gpt-4o-2024-08-06", "choices": [], "usage": '
                                          b'{"prompt_tokens": 1000000, "completion_tokens": 0}}')
    azure_cost = pricer.price(m, "gpt-4o-2024-08-06", "azure").cost_usd
    assert azure_cost == pricer.price(m, "gpt-4o-2024-08-06", "openai").cost_usd  # genai-prices: azure → openai
    assert azure_cost == Decimal("2.5")
    claude = meter.meter_body("google", "messages", b'{"type": "message", "model": "x", "usage": '
                                                          b'{"input_tokens": 1000000, "output_tokens": 0}}')
    priced = pricer.price(claude, "claude-3-5-sonnet-v2@20241022", "google")
    assert (priced.pricing, priced.cost_usd, priced.model_ref) == ("priced", Decimal("3"), "claude-3-5-sonnet")
    assert pricer.price(claude, "claude-unknown@2030", "google").pricing == "unpriced"


def test_azure_budget_bound_prices_a_mapped_deployment_and_names_the_map_when_unpriced():
    config = parse_config({"azure": {"deployments": {"prod": "gpt-4o-mini"}}})
    pricer = Pricer()
    body = b'{"model": "prod", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}'
    f = tflow.tflow()
    f.request.path = "/openai/deployments/prod/chat/completions?api-version=2024-10-21"
    f.request.raw_content = body
    st = FlowState("azure", "chat", "openai", time.time(), account="acme", tier="pro")
    b = charge.bound(f, st, config, pricer)
    assert b.charge is not None and b.model == "gpt-4o-mini" and b.charge.amount_nano > 0
    unmapped = charge.bound(f, st, Config(), pricer)
    assert unmapped.charge is None and "prod" in unmapped.refusal and "[azure.deployments]" in unmapped.refusal
    # the v1 form: the body's model names the deployment
    f.request.path = "/openai/v1/chat/completions"
    assert charge.bound(f, st, config, pricer).model == "gpt-4o-mini"


@pytest.mark.parametrize("path, names, expected", [
    ("/openai/deployments/prod/chat/completions", ("prod",), ("gpt-4o",)),
    ("/openai/deployments/prod/chat/completions", (), ("gpt-4o",)),
    ("/openai/deployments/other/chat/completions", ("other",), ("other",)),
    ("/openai/v1/chat/completions", ("prod",), ("gpt-4o",)),
    ("/openai/v1/chat/completions", ("gpt-4o-mini",), ("gpt-4o-mini",)),
])
def test_azure_priced_names(path, names, expected):
    assert azure.priced_names(path, names, {"prod": "gpt-4o"}) == expected

