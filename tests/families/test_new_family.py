"""A new wire format is one module: the "acme" family below is declared here and nowhere
else, registered for the test's duration, and recognised end to end by the proxy's own code
paths (provider and API, request model and output bound, usage from a body and a stream,
the error body its SDK would parse) without a line changed anywhere else."""

import json
import re

import pytest
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import tflow

from aispendtrack import meter
from aispendtrack.config import Config, parse_config
from aispendtrack.families import ErrorFormat, Family, PathModel, registry
from aispendtrack.limits import budget, routing
from aispendtrack.meter.usage import build, num
from aispendtrack.proxy import providers

# ---- the one module a new family needs (here inline) -------------------------------------
_ENGINE = re.compile(r"^/acme/v2/engines/([^/]+)/infer$")


def _engine(path: str, query: str) -> PathModel | None:
    found = _ENGINE.fullmatch(path)
    return PathModel(found.group(1)) if found else None


def _usage(obj: dict, provider: str):
    u = obj.get("metering")
    if not isinstance(u, dict) or obj.get("final") is False:
        return None
    return build(num(u.get("in")), num(u.get("out")))


def _max_tokens(body: dict) -> list:
    limits = body.get("limits")
    return [limits.get("out")] if isinstance(limits, dict) else []


ACME_ERRORS = ErrorFormat("acme", 50, lambda status, message, code: {"fault": {"status": status, "why": message,
                                                                               "code": code}},
                          providers=frozenset({"acme"}), headers=lambda status: {"x-acme-fault": str(status)})
ACME = Family("acme-infer", (re.compile(r"^/acme/v2/engines/[^/]+/infer$"),), 60, provider="acme", shape="acme",
              usage=_usage, streams_by_default=True, path_model=_engine, max_tokens=_max_tokens)
# -------------------------------------------------------------------------------------------

PATH = "/acme/v2/engines/rocket-7/infer"


@pytest.fixture
def acme():
    with registry.added(ACME_ERRORS, ACME):
        yield


def reverse_flow(path: str):
    f = tflow.tflow()
    f.client_conn.proxy_mode = ProxyMode.parse("reverse:http://127.0.0.1:9")
    f.request.host, f.request.port, f.request.path = "127.0.0.1", 9, path
    return f


def test_unknown_before_registration():
    assert providers.api_of(PATH) == "other"
    assert routing.path_model(PATH) == PathModel()


def test_identified_by_path_alone(acme):
    t = providers.identify(reverse_flow(PATH + "?trace=1"), Config())
    assert (t.provider, t.api, t.shape) == ("acme", "acme-infer", "acme")


def test_identified_on_a_configured_host(acme):
    f = tflow.tflow()
    f.request.host, f.request.port, f.request.path = "api.acme.example", 443, PATH
    t = providers.identify(f, parse_config({"upstreams": {"api.acme.example": "acme"}}))
    assert (t.provider, t.api, t.shape) == ("acme", "acme-infer", "acme")
    f.request.path = "/v1/chat/completions"  # the provider's error format follows it to other families
    assert providers.identify(f, parse_config({"upstreams": {"api.acme.example": "acme"}})).shape == "acme"


def test_request_model_stream_and_output_bound(acme):
    assert routing.path_model(PATH) == PathModel("rocket-7")
    assert routing.requested(PATH, {"model": "ignored"}).served == "rocket-7"
    info = meter.request_info("acme-infer", b'{"prompt": "hi"}')
    assert info.stream is True  # streams unless the body says "stream": false
    assert meter.request_info("acme-infer", b'{"stream": false}').stream is False
    assert budget.output_bound({"limits": {"out": 512}}, 99) == 512


def test_usage_from_a_body(acme):
    body = json.dumps({"model": "rocket-7-2026", "text": "hi", "metering": {"in": 12, "out": 34}}).encode()
    m = meter.meter_body("acme", "acme-infer", body)
    assert (m.model, m.input_tokens, m.output_tokens, m.has_usage, m.partial) == ("rocket-7-2026", 12, 34, True, False)
    assert meter.meter_body("acme", "acme-infer", b'{"text": "no metering"}').has_usage is False


def test_usage_from_a_stream(acme):
    sm = meter.StreamMeter("acme", "acme-infer")
    events = [{"model": "rocket-7", "final": False, "metering": {"in": 12, "out": 1}},
              {"model": "rocket-7", "final": True, "metering": {"in": 12, "out": 40}}]
    wire = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    assert sm.feed(wire) + sm.feed(b"") == wire  # forwarded untouched
    m = sm.result()
    assert (m.input_tokens, m.output_tokens, m.partial) == (12, 40, False)


def test_error_body_in_the_familys_own_format(acme):
    r = providers.error_response("acme", 429, "slow down", "rate_limited", {"retry-after": "3"})
    assert json.loads(r.content) == {"fault": {"status": 429, "why": "slow down", "code": "rate_limited"}}
    assert (r.headers["x-acme-fault"], r.headers["retry-after"]) == ("429", "3")


def test_gone_after_the_block():
    with registry.added(ACME_ERRORS, ACME):
        assert providers.api_of(PATH) == "acme-infer"
    assert providers.api_of(PATH) == "other" and registry.get("acme-infer") is None
    assert registry.error_format("acme").name == "openai"
