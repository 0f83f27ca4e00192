"""Ollama as a provider: hosts and paths, its error body, `[providers.local]` pricing and budgets."""

import json
import time
from decimal import Decimal

import pytest
from mitmproxy.test import tflow

from aispendtrack import meter
from aispendtrack.config import Config, ConfigError, parse_config
from aispendtrack.meter.pricing import Pricer
from aispendtrack.proxy import charge, providers
from aispendtrack.proxy.intercept import intercept_patterns
from aispendtrack.proxy.state import FlowState
from aispendtrack.proxy.webview import comment_for

LOCAL = parse_config({"providers": {"local": {"ollama": True}}})


def flow(host: str, port: int, path: str):
    f = tflow.tflow()
    f.request.host, f.request.port, f.request.path = host, port, path
    f.request.headers["host"] = f"{host}:{port}"
    return f


@pytest.mark.parametrize("path, api", [
    ("/api/chat", "ollama-chat"), ("/api/generate", "ollama-generate"), ("/api/embed", "ollama-embed"),
    ("/api/embeddings", "ollama-embeddings"), ("/ollama/api/chat", "ollama-chat"),
])
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "LOCALHOST."])
def test_default_ollama_hosts_and_paths(host, path, api):
    t = providers.identify(flow(host, 11434, path), Config())
    assert (t.provider, t.api, t.shape) == ("ollama", api, "ollama")


def test_ollama_openai_compatible_paths_keep_the_openai_shape():
    t = providers.identify(flow("localhost", 11434, "/v1/chat/completions"), Config())
    assert (t.provider, t.api, t.shape) == ("ollama", "chat", "openai")


def test_openrouter_api_v1_paths_are_not_ollama():
    assert providers.api_of("/api/v1/chat/completions") == "chat"
    assert providers.api_of("/api/v1/embeddings") == "embeddings"


def test_other_ports_and_configured_hosts():
    assert providers.identify(flow("localhost", 8000, "/api/chat"), Config()) is None  # not a provider host
    config = parse_config({"upstreams": {"gpu-box.lan:11434": "ollama"}})
    assert providers.identify(flow("gpu-box.lan", 11434, "/api/generate"), config).provider == "ollama"


def test_ollama_hosts_are_intercepted_in_regular_mode():
    patterns = intercept_patterns(Config(), [])
    assert r"^localhost\.?:11434$" in patterns and r"^127\.0\.0\.1\.?:11434$" in patterns


def test_error_body_is_ollamas_own():
    assert json.loads(providers.error_body("ollama", 401, "no key", "missing_key")) == {"error": "no key"}


def test_providers_local_config():
    assert LOCAL.local_providers == {"ollama"}
    assert LOCAL.providers == Config().providers  # `local` alone keeps the default hosts
    both = parse_config({"providers": {"gpu.lan:11434": "ollama", "local": {"ollama": True, "vllm": False}}})
    assert both.providers == {"gpu.lan:11434": "ollama"} and both.local_providers == {"ollama"}
    assert Config().local_providers == frozenset()


@pytest.mark.parametrize("data, message", [
    ({"providers": {"local": {"ollama": "yes"}}}, "providers.local: expected a table of provider id = true | false"),
    ({"providers": {"local": True}}, "providers.local: expected a table"),
    ({"local_providers": ["ollama"]}, 'unknown key "local_providers"'),
])
def test_providers_local_bad_values_name_the_field(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(data, source="mitm.toml")


def metered(**kw):
    return meter.Metered(has_usage=True, **kw)


def test_local_provider_costs_zero_as_local_else_unpriced():
    pricer = Pricer.with_prices({}, LOCAL.local_providers)
    p = pricer.price(metered(input_tokens=26, output_tokens=282), "llama3.2", "ollama")
    assert (p.cost_usd, p.pricing, p.source) == (Decimal(0), "local", "local")
    p = pricer.price(metered(output_tokens=282), "llama3.2", "OLLAMA")  # input unknown: still local
    assert (p.cost_usd, p.pricing) == (Decimal(0), "local")
    p = Pricer().price(metered(input_tokens=26, output_tokens=282), "llama3.2", "ollama")
    assert (p.cost_usd, p.pricing) == (None, "unpriced")  # genai-prices has no Ollama prices
    assert pricer.price(meter.Metered(), "llama3.2", "ollama").pricing == "unmetered"
    # another provider is not affected by Ollama being local
    assert pricer.price(metered(input_tokens=1, output_tokens=1), "acme-private", "openai").pricing == "unpriced"


def test_a_local_call_holds_zero_against_a_budget_instead_of_being_refused():
    f = flow("localhost", 11434, "/api/chat")
    f.request.raw_content = json.dumps({"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}]}).encode()
    st = FlowState("ollama", "ollama-chat", "ollama", time.time(), account="acme", tier="pro")
    b = charge.bound(f, st, LOCAL, Pricer.with_prices({}, LOCAL.local_providers))
    assert b.charge is not None and b.charge.amount_nano == 0 and b.refusal is None
    b = charge.bound(f, st, Config(), Pricer())
    assert b.charge is None and "llama3.2" in b.refusal  # not local: unpriced, refused under a budget


def test_mitmweb_comment_says_local():
    row = {"outcome": "forwarded", "cost_usd": Decimal(0), "pricing": "local", "model": "llama3.2",
           "input_tokens": 26, "cache_read_tokens": None, "output_tokens": 282, "reasoning_tokens": None,
           "partial": False}
    assert comment_for(row) == "local $0 · llama3.2 · 26 in · 282 out"
