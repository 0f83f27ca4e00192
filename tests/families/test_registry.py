"""The registry holds every API family, and its order reproduces the routing the proxy had
before the registry (paths from tests/proxy and tests/limits, expectations taken from the
former `_PATH_APIS` / `SHAPE_PROVIDER` / `shape_of` tables)."""

import pytest
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import tflow

from aispendtrack.config import Config
from aispendtrack.families import ErrorFormat, Family, registry
from aispendtrack.limits import budget
from aispendtrack.proxy import providers

FAMILIES = {
    "chat", "responses", "embeddings", "completions", "realtime", "messages", "generate",
    "ollama-chat", "ollama-generate", "ollama-embed", "ollama-embeddings",
    "bedrock-converse", "bedrock-converse-stream", "bedrock-invoke", "bedrock-invoke-stream",
    "batch", "batches", "files",
}

# (path, api, provider when no host names one, shape)
ROUTES = [
    ('/', 'other', 'openai', 'openai'),
    ('/OpenAI/Deployments/cheap/embeddings', 'embeddings', 'openai', 'openai'),
    ('/api/chat', 'ollama-chat', 'ollama', 'ollama'),
    ('/api/embed', 'ollama-embed', 'ollama', 'ollama'),
    ('/api/embeddings', 'ollama-embeddings', 'ollama', 'ollama'),
    ('/api/generate', 'ollama-generate', 'ollama', 'ollama'),
    ('/api/v1/chat/completions', 'chat', 'openai', 'openai'),
    ('/api/v1/embeddings', 'embeddings', 'openai', 'openai'),
    ('/async-invoke', 'other', 'openai', 'openai'),
    ('/model/a/b/converse', 'other', 'openai', 'openai'),
    ('/model/m/converse-stream', 'bedrock-converse-stream', 'aws', 'bedrock'),
    ('/model/m/invoke', 'bedrock-invoke', 'aws', 'bedrock'),
    ('/model/m/invoke-with-response-stream', 'bedrock-invoke-stream', 'aws', 'bedrock'),
    ('/model/us.anthropic.claude%253Ax/converse', 'bedrock-converse', 'aws', 'bedrock'),
    ('/models/a/models/b/models/c:generateContent', 'generate', 'google', 'google'),
    ('/ollama/api/chat', 'ollama-chat', 'ollama', 'ollama'),
    ('/openai/deployments/cheap', 'other', 'openai', 'openai'),
    ('/openai/deployments/cheap%2Fopenai%2Fdeployments%2Fexpensive/chat/completions', 'chat', 'openai', 'openai'),
    ('/openai/deployments/cheap/models/gemini-2.5-pro:generateContent', 'generate', 'google', 'google'),
    ('/openai/deployments/cheap/openai/deployments/expensive/chat/completions', 'chat', 'openai', 'openai'),
    ('/openai/deployments/d/chat/completions', 'chat', 'openai', 'openai'),
    ('/openai/deployments/d/chat/completions?api-version=2024-06-01', 'chat', 'openai', 'openai'),
    ('/openai/deployments/d/chat/completions?api-version=2024-08-01-preview', 'chat', 'openai', 'openai'),
    ('/openai/deployments/d/chat/completions?api-version=2024-09-01-preview', 'chat', 'openai', 'openai'),
    ('/openai/deployments/d/chat/completions?api-version=2024-10-21', 'chat', 'openai', 'openai'),
    ('/openai/deployments/d/chat/completions?api-version=2025-04-01-preview', 'chat', 'openai', 'openai'),
    ('/openai/deployments/d/chat/completions?api-version=latest', 'chat', 'openai', 'openai'),
    ('/openai/deployments/d/completions?api-version=2024-10-21', 'completions', 'openai', 'openai'),
    ('/openai/deployments/emb/embeddings?api-version=2024-10-21', 'embeddings', 'openai', 'openai'),
    ('/openai/deployments/my%2Ddep/embeddings', 'embeddings', 'openai', 'openai'),
    ('/openai/deployments/other/chat/completions', 'chat', 'openai', 'openai'),
    ('/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21', 'chat', 'openai', 'openai'),
    ('/openai/deployments/prod/chat/completions', 'chat', 'openai', 'openai'),
    ('/openai/deployments/prod/chat/completions?api-version=2024-10-21', 'chat', 'openai', 'openai'),
    ('/openai/responses?api-version=2025-03-01-preview', 'responses', 'openai', 'openai'),
    ('/openai/v1/chat/completions', 'chat', 'openai', 'openai'),
    ('/openai/v1/chat/completions?api-version=preview', 'chat', 'openai', 'openai'),
    ('/openai/v1/responses', 'responses', 'openai', 'openai'),
    ('/v1/batches', 'batches', 'openai', 'openai'),
    ('/v1/batches/batch_1', 'batches', 'openai', 'openai'),
    ('/v1/batches/batch_1/cancel', 'batches', 'openai', 'openai'),
    ('/v1/batches/batch_abc', 'batches', 'openai', 'openai'),
    ('/v1/batches/batch_abc/cancel', 'batches', 'openai', 'openai'),
    ('/v1/chat/completions', 'chat', 'openai', 'openai'),
    ('/v1/chat/completions?aispendtrack=1&x=2', 'chat', 'openai', 'openai'),
    ('/v1/chat/completions?model=gpt-4o', 'chat', 'openai', 'openai'),
    ('/v1/chat/completions?n=1', 'chat', 'openai', 'openai'),
    ('/v1/chat/completions?x-aispendtrack-key=', 'chat', 'openai', 'openai'),
    ('/v1/chat/completions?x-aispendtrack-key=ask_', 'chat', 'openai', 'openai'),
    ('/v1/chat?key=AIzaCLIENTKEY&alt=sse', 'other', 'openai', 'openai'),
    ('/v1/files', 'files', 'openai', 'openai'),
    ('/v1/files/f/content', 'batch', 'openai', 'openai'),
    ('/v1/files/file-1/content', 'batch', 'openai', 'openai'),
    ('/v1/files/file-abc', 'files', 'openai', 'openai'),
    ('/v1/files/file-abc/content', 'batch', 'openai', 'openai'),
    ('/v1/messages', 'messages', 'anthropic', 'anthropic'),
    ('/v1/messages/batches', 'batches', 'anthropic', 'anthropic'),
    ('/v1/messages/batches/msgbatch_01', 'batches', 'anthropic', 'anthropic'),
    ('/v1/messages/batches/msgbatch_01/results', 'batch', 'anthropic', 'anthropic'),
    ('/v1/messages/batches/msgbatch_01/results?beta=true', 'batch', 'anthropic', 'anthropic'),
    ('/v1/messages/batches/msgbatch_1', 'batches', 'anthropic', 'anthropic'),
    ('/v1/messages/batches/msgbatch_1/cancel', 'batches', 'anthropic', 'anthropic'),
    ('/v1/messages/batches/msgbatch_1/results', 'batch', 'anthropic', 'anthropic'),
    ('/v1/messages/batches/msgbatch_1/results?x=1', 'batch', 'anthropic', 'anthropic'),
    ('/v1/messages/batches?beta=true', 'batches', 'anthropic', 'anthropic'),
    ('/v1/models', 'other', 'openai', 'openai'),
    ('/v1/models/gpt-4o', 'other', 'openai', 'openai'),
    ('/v1/projects/my-proj/locations/us-central1/publishers', 'other', 'openai', 'openai'),
    ('/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent', 'generate', 'google', 'google'),
    ('/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5:rawPredict', 'messages', 'anthropic', 'anthropic'),
    ('/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5:streamRawPredict', 'messages', 'anthropic', 'anthropic'),
    ('/v1/projects/p/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict', 'other', 'openai', 'openai'),
    ('/v1/realtime', 'realtime', 'openai', 'openai'),
    ('/v1/realtime/?model=gpt-4o-realtime-preview&voice=x', 'realtime', 'openai', 'openai'),
    ('/v1/realtime?model=', 'realtime', 'openai', 'openai'),
    ('/v1/realtime?model=a%20b', 'realtime', 'openai', 'openai'),
    ('/v1/realtime?model=a&model=b', 'realtime', 'openai', 'openai'),
    ('/v1/realtime?model=gpt%2Drealtime', 'realtime', 'openai', 'openai'),
    ('/v1/realtime?model=gpt-realtime', 'realtime', 'openai', 'openai'),
    ('/v1/realtime?model=x/y', 'realtime', 'openai', 'openai'),
    ('/v1/responses?case=sse-huge-completed', 'responses', 'openai', 'openai'),
    ('/v1beta/MODELS/gemini-2.5-pro:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/%2525252F:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/a/models/b:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gemini%0a:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gemini%2D2.5-pro:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gemini-2.5-flash/%2e%2e/gemini-2.5-pro:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gemini-2.5-flash/../gemini-2.5-pro:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gemini-2.5-flash/x:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gemini-2.5-flash:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gemini-2.5-flash:generateContent/models/gemini-2.5-pro:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gemini-2.5-flash:generateContent?key=AIzaSECRETSECRETSECRET&alt=sse', 'generate', 'google', 'google'),
    ('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', 'generate', 'google', 'google'),
    ('/v1beta/models/gemini-2.5-pro%3AgenerateContent', 'other', 'openai', 'openai'),
    ('/v1beta/models/gemini-2.5-pro:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gemini-2.5-pro:streamGenerateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gpt-4o-mini%252Fmodels%252Fgemini-2.5-pro:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gpt-4o-mini%2Fmodels%2Fgemini-2.5-pro:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/gpt-4o-mini/models/gemini-2.5-pro:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/m:generateContent', 'generate', 'google', 'google'),
    ('/v1beta/models/x:generateContent?key=AIzaREAL', 'generate', 'google', 'google'),
    ('/v1beta/tunedModels/mine:generateContent', 'generate', 'google', 'google'),
]

PROVIDERS = ("openai", "anthropic", "google", "google-vertex", "aws", "ollama", "azure")
# api → the shape for each of PROVIDERS
SHAPES = {
    'chat': ('openai', 'anthropic', 'google', 'google', 'bedrock', 'openai', 'openai'),
    'responses': ('openai', 'anthropic', 'google', 'google', 'bedrock', 'openai', 'openai'),
    'messages': ('anthropic', 'anthropic', 'anthropic', 'anthropic', 'bedrock', 'anthropic', 'anthropic'),
    'generate': ('google', 'anthropic', 'google', 'google', 'bedrock', 'google', 'google'),
    'ollama-chat': ('ollama', 'ollama', 'ollama', 'ollama', 'ollama', 'ollama', 'ollama'),
    'bedrock-converse': ('bedrock', 'bedrock', 'bedrock', 'bedrock', 'bedrock', 'bedrock', 'bedrock'),
    'bedrock-invoke': ('bedrock', 'bedrock', 'bedrock', 'bedrock', 'bedrock', 'bedrock', 'bedrock'),
    'realtime': ('openai', 'anthropic', 'google', 'google', 'bedrock', 'openai', 'openai'),
    'batch': ('openai', 'anthropic', 'google', 'google', 'bedrock', 'openai', 'openai'),
    'other': ('openai', 'anthropic', 'google', 'google', 'bedrock', 'openai', 'openai'),
}


def test_every_family_is_registered():
    assert {f.name for f in registry.families()} == FAMILIES
    assert {"openai", "anthropic", "google", "ollama", "bedrock"} <= {registry.error_format(s).name for s in
                                                                        ("openai", "anthropic", "google", "ollama",
                                                                         "bedrock")}


def test_families_are_declared_completely():
    for family in registry.families():
        assert isinstance(family, Family) and family.paths, family.name
        assert family.stream in ("sse", "ndjson", "eventstream"), family.name
        assert family.shape is None or registry.error_format(family.shape).name == family.shape, family.name


@pytest.mark.parametrize("path, api, provider, shape", ROUTES)
def test_registry_order_reproduces_the_routing(path, api, provider, shape):
    assert providers.api_of(path) == api
    f = tflow.tflow()
    f.client_conn.proxy_mode = ProxyMode.parse("reverse:http://127.0.0.1:9")  # no host names the provider
    f.request.host, f.request.port, f.request.path = "127.0.0.1", 9, path
    t = providers.identify(f, Config())
    assert (t.provider, t.api, t.shape) == (provider, api, shape)


@pytest.mark.parametrize("api, shapes", SHAPES.items())
def test_family_and_provider_shapes(api, shapes):
    assert tuple(providers.shape_of(p, api) for p in PROVIDERS) == shapes


def test_an_unknown_shape_answers_openais_error():
    assert registry.error_format("nonesuch").name == "openai"
    assert providers.error_body("nonesuch", 429, "m", "c") == providers.error_body("openai", 429, "m", "c")


@pytest.mark.parametrize("body, bound", [
    ({"max_tokens": 10}, 10), ({"max_completion_tokens": 20, "max_tokens": 5}, 20), ({"max_output_tokens": 7}, 7),
    ({"generationConfig": {"maxOutputTokens": 30}}, 30), ({"inferenceConfig": {"maxTokens": 40}}, 40),
    ({"max_tokens": True}, 99), ({"max_tokens": -1}, 99), ({"generationConfig": 5}, 99), ({}, 99),
])
def test_every_familys_output_bound_is_read(body, bound):
    assert budget.output_bound(body, 99) == bound


def test_a_name_registered_twice_is_refused():
    with pytest.raises(ValueError, match="'chat' is registered twice"):
        registry.register(Family("chat", (), 0))
    with pytest.raises(ValueError, match="'openai' is registered twice"):
        registry.register(ErrorFormat("openai", 0, lambda s, m, c: {}))
    assert registry.get("chat").include_usage  # the original stays


@pytest.mark.parametrize("api, path, streams, array", [
    ("generate", "/v1beta/models/g:streamGenerateContent?alt=sse", True, True),
    ("generate", "/v1beta/models/g:streamGenerateContent", True, True),
    ("generate", "/v1beta/models/g:generateContent", False, False),
    ("chat", "/v1/chat/completions", False, False),
    ("chat", "/v1/chat/completions?x=streamGenerateContent", True, False),  # as before: the path alone
])
def test_stream_marker(api, path, streams, array):
    assert registry.path_streams(path) is streams
    assert registry.json_array_stream(api, path) is array


@pytest.mark.parametrize("api, kind, by_default, always, include_usage", [
    ("chat", "sse", False, False, True), ("completions", "sse", False, False, True),
    ("responses", "sse", False, False, False), ("messages", "sse", False, False, False),
    ("ollama-chat", "ndjson", True, False, False), ("ollama-generate", "ndjson", True, False, False),
    ("ollama-embed", "ndjson", False, False, False), ("ollama-embeddings", "ndjson", False, False, False),
    ("bedrock-converse", "sse", False, False, False), ("bedrock-converse-stream", "eventstream", False, True, False),
    ("bedrock-invoke", "sse", False, False, False), ("bedrock-invoke-stream", "eventstream", False, True, False),
    ("other", "sse", False, False, False),
])
def test_stream_flags(api, kind, by_default, always, include_usage):
    assert (registry.stream_kind(api), registry.streams_by_default(api), registry.always_streams(api),
            registry.include_usage(api)) == (kind, by_default, always, include_usage)


@pytest.mark.parametrize("api, dialect", [
    ("chat", "openai"), ("completions", "openai"), ("embeddings", "embeddings"), ("responses", "responses"),
    ("messages", "anthropic"), ("generate", "gemini"), ("ollama-chat", "ollama"), ("ollama-embed", "ollama"),
    ("bedrock-converse", "converse"), ("bedrock-converse-stream", "converse"), ("bedrock-invoke", "anthropic"),
    ("bedrock-invoke-stream", "anthropic"), ("realtime", None), ("batch", None), ("other", None),
])
def test_usage_dialects(api, dialect):
    assert registry.usage(api) == dialect


def test_default_hosts_are_the_families_hosts():
    assert Config().providers == registry.hosts() == {
        "api.openai.com": "openai", "api.anthropic.com": "anthropic", "generativelanguage.googleapis.com": "google",
        "api.groq.com": "groq", "api.mistral.ai": "mistral", "openrouter.ai": "openrouter",
        "api.deepseek.com": "deepseek", "api.x.ai": "x-ai", "localhost:11434": "ollama", "127.0.0.1:11434": "ollama",
        "*.openai.azure.com": "azure", "*.cognitiveservices.azure.com": "azure", "*.services.ai.azure.com": "azure",
        "aiplatform.googleapis.com": "google", "*-aiplatform.googleapis.com": "google",
        "aiplatform.*.rep.googleapis.com": "google", "bedrock-runtime.*.amazonaws.com": "aws",
        "bedrock-runtime-fips.*.amazonaws.com": "aws",
    }


def test_a_host_declared_for_two_providers_is_refused():
    with pytest.raises(ValueError, match="'api.openai.com' is declared for 'openai' and 'acme'"):
        registry.add_hosts({"api.openai.com": "acme"})
