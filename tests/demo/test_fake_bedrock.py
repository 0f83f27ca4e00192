"""The fake provider's Bedrock, read by botocore's own bedrock-runtime client (no proxy):
the wire formats are what AWS's SDK parses, and signatures are checked as AWS checks them."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError
from botocore.eventstream import ChecksumMismatch, InvalidPayloadLength

from aispendtrack.demo.fake import sigv4
from aispendtrack.demo.fake.server import FakeProvider, UsageSpec

U = UsageSpec()
MODEL = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
ANTHROPIC = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9,
                        "messages": [{"role": "user", "content": "hello"}]})


@pytest.fixture(scope="module")
def fake():
    with FakeProvider().start() as f:
        yield f


def client(fake, secret=sigv4.SECRET_KEY, flavor=None):
    c = botocore.session.get_session().create_client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=fake.url, aws_access_key_id=sigv4.ACCESS_KEY,
        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))
    if flavor:
        c.meta.events.register("before-sign.bedrock-runtime.*",
                               lambda request, **_: request.headers.__setitem__("x-fake-flavor", flavor))
    return c


def test_all_four_apis_parse_in_botocore(fake):
    c = client(fake)
    uncached = U.input - U.cache_read - U.cache_write
    assert c.converse(modelId=MODEL, messages=MESSAGES)["usage"] == {
        "inputTokens": uncached, "outputTokens": U.output, "totalTokens": U.input + U.output,
        "cacheReadInputTokens": U.cache_read, "cacheWriteInputTokens": U.cache_write}
    events = list(c.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])
    assert [next(iter(e)) for e in events][-2:] == ["messageStop", "metadata"]
    assert events[-1]["metadata"]["usage"]["outputTokens"] == U.output
    r = c.invoke_model(modelId=MODEL, body=ANTHROPIC)
    assert json.loads(r["body"].read())["usage"]["cache_read_input_tokens"] == U.cache_read
    chunks = [json.loads(e["chunk"]["bytes"]) for e in c.invoke_model_with_response_stream(modelId=MODEL, body=ANTHROPIC)["body"]]
    assert chunks[0]["type"] == "message_start" and chunks[-1]["type"] == "message_stop"
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"] == uncached


def test_a_wrong_signature_is_refused_as_aws_does(fake):
    with pytest.raises(ClientError) as e:
        client(fake, secret="not-the-secret").converse(modelId=MODEL, messages=MESSAGES)
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_a_bedrock_api_key_is_accepted(fake):
    import urllib.request
    req = urllib.request.Request(f"{fake.url}/model/{MODEL}/converse", data=json.dumps({"messages": MESSAGES}).encode(),
                                 headers={"Authorization": "Bearer ABSKfake", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        assert json.loads(r.read())["usage"]["outputTokens"] == U.output


@pytest.mark.parametrize("flavor, error", [("corrupt", ChecksumMismatch), ("exception", EventStreamError),
                                           ("truncated", None)])
def test_broken_flavors_are_broken_for_botocore_too(fake, flavor, error):
    stream = client(fake, flavor=flavor).converse_stream(modelId=MODEL, messages=MESSAGES)["stream"]
    if error is None:  # botocore stops at the end of the bytes without the last frame
        events = list(stream)
        assert "metadata" not in events[-1]
        return
    with pytest.raises((error, InvalidPayloadLength)):
        list(stream)
