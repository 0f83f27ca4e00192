"""Bedrock as a provider: its hosts and paths, its error shape, model lists on its path's
model, the budget bound's max tokens, and the SigV4 rule for the gateway's own headers."""

import json
import time

import pytest
from mitmproxy.test import taddons, tflow

from aispendtrack.auth.sigv4 import gateway_headers_signed, signed_headers
from aispendtrack.config import Config
from aispendtrack.limits.budget import output_bound
from aispendtrack.proxy import providers
from aispendtrack.proxy.access import Access
from aispendtrack.proxy.intercept import intercept_patterns
from aispendtrack.proxy.state import META, FlowState, Runtime

MODEL = "us.anthropic.claude-3-5-sonnet-20241022-v2%3A0"
SIGV4 = ("AWS4-HMAC-SHA256 Credential=AKIAFAKE/20261208/us-east-1/bedrock/aws4_request, "
         "SignedHeaders={}, Signature=0123abcd")


def flow(host: str, path: str, port: int = 443):
    f = tflow.tflow()
    f.request.scheme, f.request.host, f.request.port, f.request.path = "https", host, port, path
    f.request.headers["host"] = host
    return f


@pytest.mark.parametrize("op, api", [
    ("converse", "bedrock-converse"), ("converse-stream", "bedrock-converse-stream"),
    ("invoke", "bedrock-invoke"), ("invoke-with-response-stream", "bedrock-invoke-stream")])
@pytest.mark.parametrize("host", ["bedrock-runtime.us-east-1.amazonaws.com", "bedrock-runtime-fips.us-gov-west-1.amazonaws.com",
                                  "BEDROCK-RUNTIME.eu-central-1.amazonaws.com."])
def test_bedrock_hosts_and_operations(host, op, api):
    t = providers.identify(flow(host, f"/model/{MODEL}/{op}"), Config())
    assert (t.provider, t.api, t.shape) == ("aws", api, "bedrock")


@pytest.mark.parametrize("host", ["bedrock-runtime.us-east-1.amazonaws.com.evil.test", "bedrock.us-east-1.amazonaws.com",
                                  "xbedrock-runtime.us-east-1.amazonaws.com", "bedrock-runtime.amazonaws.com"])
def test_lookalike_hosts_are_not_bedrock(host):
    assert providers.identify(flow(host, f"/model/{MODEL}/converse"), Config()) is None


def test_bedrock_hosts_are_default_patterns_a_providers_table_of_ones_own_replaces():
    assert Config().providers["bedrock-runtime.*.amazonaws.com"] == "aws"
    assert Config().providers["bedrock-runtime-fips.*.amazonaws.com"] == "aws"
    own = Config(providers={"api.openai.com": "openai"})
    assert providers.identify(flow("bedrock-runtime.us-east-1.amazonaws.com", f"/model/{MODEL}/converse"), own) is None
    kept = Config(providers={"bedrock-runtime.*.amazonaws.com": "aws"})
    assert providers.identify(flow("bedrock-runtime.us-east-1.amazonaws.com", f"/model/{MODEL}/converse"), kept).provider == "aws"
    assert providers.identify(flow("bedrock-runtime-fips.us-east-1.amazonaws.com", f"/model/{MODEL}/converse"), kept) is None


def test_other_bedrock_paths_are_unmetered_calls():
    t = providers.identify(flow("bedrock-runtime.us-east-1.amazonaws.com", "/async-invoke"), Config())
    assert (t.provider, t.api) == ("aws", "other")  # still needs a key, recorded unmetered
    assert providers.api_of("/model/a/b/converse") == "other"  # an unencoded ARN is not one model


def test_bedrock_hosts_are_intercepted_in_regular_mode():
    import re
    patterns = intercept_patterns(Config(), [])
    hit = lambda h: any(re.search(p, h, re.IGNORECASE) for p in patterns)  # noqa: E731
    assert hit("bedrock-runtime.ap-southeast-2.amazonaws.com:443") and hit("bedrock-runtime-fips.us-east-1.amazonaws.com:443")
    assert not hit("s3.us-east-1.amazonaws.com:443") and not hit("bedrock-runtime.us-east-1.amazonaws.com.evil.test:443")


def test_error_is_what_botocore_reads():
    r = providers.error_response("bedrock", 429, "AiSpendTrack: slow down", "rate_limited", {"retry-after": "3"})
    assert r.headers["x-amzn-ErrorType"] == "ThrottlingException" and r.headers["retry-after"] == "3"
    assert json.loads(r.content) == {"__type": "ThrottlingException", "message": "AiSpendTrack: slow down"}


def test_botocore_parses_our_error_into_its_client_error():
    from botocore.parsers import RestJSONParser
    r = providers.error_response("bedrock", 401, "AiSpendTrack: missing key", "invalid_api_key")
    parsed = RestJSONParser().parse({"status_code": 401, "headers": dict(r.headers), "body": r.content}, None)
    assert parsed["Error"] == {"Code": "UnrecognizedClientException", "Message": "AiSpendTrack: missing key"}


def access(path: str, models: list[str]):
    f = flow("bedrock-runtime.us-east-1.amazonaws.com", path)
    f.request.content = json.dumps({"messages": []}).encode()
    f.metadata[META] = FlowState("aws", providers.api_of(path), "bedrock", time.time(), key_id="key_1", models=models)
    a = Access(Runtime())
    with taddons.context(a):
        a.requestheaders(f)
        if f.response is None:
            a.request(f)
    return f.response


ARN = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0"


@pytest.mark.parametrize("path", [f"/model/{MODEL}/converse", f"/model/{ARN}/invoke-with-response-stream"])
def test_model_lists_check_the_paths_model(path):
    assert access(path, ["us.anthropic.claude-3-5-sonnet-*"]) is None
    refused = access(path, ["amazon.nova-*"])
    assert refused.status_code == 403 and refused.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert "us.anthropic.claude-3-5-sonnet-20241022-v2:0" in json.loads(refused.content)["message"]


def test_a_doubly_encoded_model_is_refused_for_every_key():
    r = access("/model/us.anthropic.claude%253Ax/converse", None)
    assert r.status_code == 400 and r.headers["x-amzn-ErrorType"] == "ValidationException"


def test_converse_max_tokens_bounds_a_budgeted_call():
    assert output_bound({"inferenceConfig": {"maxTokens": 321}}, 4096) == 321
    assert output_bound({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 77}, 4096) == 77


def test_sigv4_signed_headers():
    assert signed_headers(SIGV4.format("content-type;host;x-amz-date")) == ["content-type", "host", "x-amz-date"]
    assert signed_headers("Bearer ABSK-key") == []  # a Bedrock API key: nothing signed
    assert gateway_headers_signed([SIGV4.format("host;x-aispendtrack-key;x-amz-date")]) == ["x-aispendtrack-key"]
    assert gateway_headers_signed([SIGV4.format("host;X-AiSpendTrack-Tag-Team")]) == ["x-aispendtrack-tag-team"]
    assert gateway_headers_signed([SIGV4.format("host;x-amz-date")]) == []
    query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-SignedHeaders=host%3Bx-aispendtrack-tags"
    assert gateway_headers_signed([], query) == ["x-aispendtrack-tags"]  # a presigned URL
