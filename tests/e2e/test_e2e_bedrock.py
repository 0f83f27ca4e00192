"""Amazon Bedrock Runtime through a real mitmdump in regular (HTTPS proxy) mode to the fake.

The client is botocore's own `bedrock-runtime` client (what boto3 wraps), signing with SigV4,
sent through the gateway as `HTTPS_PROXY` and trusting its CA. A test-only script sends the
flows for `bedrock-runtime.us-east-1.amazonaws.com` to the fake without touching a header,
and the fake checks every signature the way AWS does (`demo/fake/sigv4.py`): a request the
gateway changed in any signed part fails there. Rows are found by id watermark.
"""

from __future__ import annotations

import json
import ssl
from decimal import Decimal
from urllib.parse import quote

import botocore.session
import httpx2
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from genai_prices import Usage, calc_price

from aispendtrack.config import Config
from aispendtrack.demo.fake import sigv4
from aispendtrack.demo.fake.server import FakeProvider, UsageSpec
from aispendtrack.demo.fake.wire_bedrock import TOOL_SHORTFALL
from aispendtrack.proxy.auth import HEADER
from aispendtrack.store import open_store
from support.harness import REPO, Proxy, record_replies
from support.ledger_rows import last_id, rows_after
from support.module_fake import module_fake

U = UsageSpec()  # 1200 in (400 cache reads, 100 cache writes), 300 out
HOST = "bedrock-runtime.us-east-1.amazonaws.com"
MODEL = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
PROFILE_ARN = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{MODEL}"
MESSAGES = [{"role": "user", "content": [{"text": "why is the sky blue?"}]}]
ANTHROPIC = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
             "messages": [{"role": "user", "content": "why is the sky blue?"}]}


class Gateway:
    def __init__(self, tmp, fake: FakeProvider):
        self.db_path = tmp / "aispendtrack.db"
        with open_store(self.db_path) as store:
            store.create_account("acme", "enterprise")
            self.key = store.create_key("acme", Config(), name="e2e").key
        # the reverse listener stands for `reverse:https://bedrock-runtime.<region>.amazonaws.com`
        self.proxy = Proxy(tmp, self.db_path, modes={"regular": "regular@{port}", "reverse": f"reverse:{fake.url}@{{port}}"},
                           config_text=f'[upstreams]\n"127.0.0.1:{fake.port}" = "aws"\n',
                           extra_args=["-s", str(REPO / "tests" / "support" / "redirect_keep_host.py")],
                           env={"AISPENDTRACK_TEST_UPSTREAM": f"127.0.0.1:{fake.port}"}).start()
        self.sent_headers: list[list[tuple[str, str]]] = []  # what botocore sent, in order

    def client(self, *, key_signed: bool = False, flavor: str | None = None, key: bool = True):
        """botocore's bedrock-runtime client through the gateway; our key added after signing
        (or before, to be signed with the rest, when `key_signed`; not at all without `key`)."""
        client = botocore.session.get_session().create_client(
            "bedrock-runtime", region_name="us-east-1", aws_access_key_id=sigv4.ACCESS_KEY,
            aws_secret_access_key=sigv4.SECRET_KEY, verify=str(self.proxy.ca_cert),
            config=BotoConfig(proxies={"https": self.proxy.url("regular")}, retries={"max_attempts": 1}))

        def add_key(request, **_):
            if key:
                request.headers[HEADER] = self.key
            if flavor:
                request.headers["x-fake-flavor"] = flavor

        def keep(request, **_):
            self.sent_headers.append([(k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()])

        client.meta.events.register("before-sign.bedrock-runtime.*" if key_signed else "before-send.bedrock-runtime.*",
                                    add_key)
        client.meta.events.register_last("before-send.bedrock-runtime.*", keep)
        return client

    def rows(self, mark: int, n: int = 1) -> list[dict]:
        return rows_after(self.db_path, mark, n, 10)


fake = module_fake()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, fake):
    g = Gateway(tmp_path_factory.mktemp("bedrock"), fake)
    yield g
    g.proxy.stop()


@pytest.fixture(autouse=True)
def sent(fake, monkeypatch):
    fake.clear()
    fake.stream_delay, fake.gzip, fake.chunks = 0.0, False, 4
    return record_replies(monkeypatch)


def cost(model: str) -> Decimal:
    usage = Usage(input_tokens=U.input, cache_read_tokens=U.cache_read, cache_write_tokens=U.cache_write,
                  output_tokens=U.output)
    return calc_price(usage, model_ref=model, provider_id="aws").total_price


def check(row, *, api, model=MODEL, streamed, error=None):
    assert (row["provider"], row["api"], row["model"], row["status"], row["outcome"]) == (
        "aws", api, model, 200, "forwarded")
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (
        U.input, U.output, U.cache_read, U.cache_write)
    assert (row["streamed"], row["partial"], row["error"]) == (int(streamed), 0, error)
    assert (row["pricing"], row["cost_source"], Decimal(row["cost_usd"])) == ("priced", "genai-prices", cost(model))


def unchanged(gw, fake):
    """The fake got the headers botocore set, minus the gateway's key, same values, same order
    (http.client adds Host, Accept-Encoding and Content-Length on the wire)."""
    (req,) = fake.received
    sent = [(k, v) for k, v in gw.sent_headers[-1] if k.lower() != HEADER]
    names = {k for k, _ in sent}
    assert [(k, v) for k, v in req.headers if k in names] == sent
    assert req.header("host") == HOST and req.header(HEADER) is None


def test_converse_and_converse_stream(gw, fake):
    mark = last_id(gw.db_path)
    client = gw.client()
    r = client.converse(modelId=MODEL, messages=MESSAGES, inferenceConfig={"maxTokens": 200})
    assert r["usage"]["inputTokens"] == U.input - U.cache_read - U.cache_write  # the signature verified
    unchanged(gw, fake)
    fake.clear()
    events = list(client.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])
    assert events[-1]["metadata"]["usage"]["outputTokens"] == U.output
    unchanged(gw, fake)
    rows = gw.rows(mark, 2)
    check(rows[0], api="bedrock-converse", streamed=False)
    check(rows[1], api="bedrock-converse-stream", streamed=True)


def test_invoke_model_and_its_stream_by_inference_profile_arn(gw, fake):
    mark = last_id(gw.db_path)
    client = gw.client()
    body = json.loads(client.invoke_model(modelId=MODEL, body=json.dumps(ANTHROPIC))["body"].read())
    assert body["model"] == "claude-3-5-sonnet-20241022"  # the body's name; the row keeps the path's id
    chunks = list(client.invoke_model_with_response_stream(modelId=PROFILE_ARN, body=json.dumps(ANTHROPIC))["body"])
    assert json.loads(chunks[-1]["chunk"]["bytes"])["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == U.output
    assert fake.received[-1].path.startswith("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F")
    rows = gw.rows(mark, 2)
    check(rows[0], api="bedrock-invoke", streamed=False)
    check(rows[1], api="bedrock-invoke-stream", streamed=True)
    assert rows[1]["request_model"] == MODEL


def test_tool_use_stream_invocation_metrics_win(gw, fake):
    mark = last_id(gw.db_path)
    body = json.dumps({**ANTHROPIC, "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]})
    chunks = [json.loads(c["chunk"]["bytes"]) for c in
              gw.client().invoke_model_with_response_stream(modelId=MODEL, body=body)["body"]]
    assert [c["usage"]["output_tokens"] for c in chunks if c["type"] == "message_delta"] == [U.output - TOOL_SHORTFALL]
    (row,) = gw.rows(mark)
    check(row, api="bedrock-invoke-stream", streamed=True, error=(
        "usage from amazon-bedrock-invocationMetrics (what AWS bills); the Anthropic stream's usage disagreed: "
        f"output {U.output} (metrics) vs {U.output - TOOL_SHORTFALL} (message_delta)"))


def test_a_flex_tier_invoke_is_unpriced_with_its_tokens(gw, fake):
    """InvokeModel names the tier only in a response header; the standard rate would be a guess."""
    mark = last_id(gw.db_path)
    gw.client(flavor="flex").invoke_model(modelId=MODEL, body=json.dumps(ANTHROPIC))
    (row,) = gw.rows(mark)
    assert (row["input_tokens"], row["output_tokens"], row["pricing"], row["cost_usd"]) == (
        U.input, U.output, "unpriced", None)
    assert "'flex' service tier" in row["error"]


def test_unknown_model_is_unpriced(gw, fake):
    mark = last_id(gw.db_path)
    app_profile = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
    gw.client().converse(modelId=app_profile, messages=MESSAGES)
    (row,) = gw.rows(mark)
    assert (row["model"], row["input_tokens"], row["pricing"], row["cost_usd"]) == (app_profile, U.input, "unpriced", None)


def signed_raw(gw, op: str, body: bytes, flavor: str = "") -> tuple[str, dict[str, str]]:
    """A request signed by botocore's SigV4 for raw httpx: (url, headers incl. our key)."""
    url = f"https://{HOST}/model/{quote(MODEL, safe='')}/{op}"
    headers = {"Content-Type": "application/json", "Accept": "application/vnd.amazon.eventstream"}
    if flavor:
        headers["x-fake-flavor"] = flavor
    req = AWSRequest("POST", url, data=body, headers=headers)
    SigV4Auth(Credentials(sigv4.ACCESS_KEY, sigv4.SECRET_KEY), "bedrock", "us-east-1").add_auth(req)
    return url, {**dict(req.headers.items()), HEADER: gw.key}


def raw_stream(gw, op: str, body: bytes, flavor: str = "") -> tuple[bytes, str]:
    url, headers = signed_raw(gw, op, body, flavor)
    with httpx2.Client(proxy=gw.proxy.url("regular"), timeout=20,
                       verify=ssl.create_default_context(cafile=str(gw.proxy.ca_cert))) as c:
        with c.stream("POST", url, headers=headers, content=body) as r:
            assert r.status_code == 200, r.read()
            assert r.headers["content-type"] == "application/vnd.amazon.eventstream"
            return b"".join(r.iter_raw()), r.headers["x-fake-request-id"]


@pytest.mark.parametrize("op", ["converse-stream", "invoke-with-response-stream"])
def test_streams_pass_byte_for_byte(gw, fake, sent, op):
    mark = last_id(gw.db_path)
    body = json.dumps({"messages": MESSAGES} if op == "converse-stream" else ANTHROPIC).encode()
    got, rid = raw_stream(gw, op, body)
    assert got == sent[rid]
    (row,) = gw.rows(mark)
    check(row, api="bedrock-converse-stream" if op == "converse-stream" else "bedrock-invoke-stream", streamed=True)


@pytest.mark.parametrize("flavor,why", [("corrupt", "message CRC mismatch"), ("truncated", "truncated")])
def test_unreadable_stream_forwarded_and_unmetered(gw, fake, sent, flavor, why):
    mark = last_id(gw.db_path)
    got, rid = raw_stream(gw, "converse-stream", json.dumps({"messages": MESSAGES}).encode(), flavor)
    assert got == sent[rid]  # the broken frames reach the client as they were
    (row,) = gw.rows(mark)
    assert (row["outcome"], row["streamed"], row["pricing"], row["cost_usd"]) == ("forwarded", 1, "unmetered", None)
    assert (row["input_tokens"], row["output_tokens"]) == (None, None)
    assert "event stream not metered" in row["error"] and why in row["error"]


def test_a_signed_gateway_header_is_refused(gw, fake):
    mark = last_id(gw.db_path)
    with pytest.raises(ClientError) as e:
        gw.client(key_signed=True).converse(modelId=MODEL, messages=MESSAGES)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "signature covers x-aispendtrack-key" in e.value.response["Error"]["Message"]
    assert fake.received == []  # never forwarded
    (row,) = gw.rows(mark)
    assert (row["outcome"], row["status"], row["provider"]) == ("rejected", 400, "aws")


def test_missing_key_is_an_aws_shaped_401(gw, fake):
    with pytest.raises(ClientError) as e:
        gw.client(key=False).converse(modelId=MODEL, messages=MESSAGES)
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert HEADER in e.value.response["Error"]["Message"]
    assert fake.received == []


def test_streams_are_not_held_back(gw, fake):
    """The fake sends two frames and then waits for the client to leave: a gateway that
    buffered the stream would deliver nothing, so reading them proves they pass at once."""
    from aispendtrack.meter.eventstream import EventStreamParser

    url, headers = signed_raw(gw, "converse-stream", body := json.dumps({"messages": MESSAGES}).encode())
    headers["x-fake-fault"] = "hang:2"  # unsigned: a header the signature does not cover may be added
    parser, messages = EventStreamParser(), []
    with httpx2.Client(proxy=gw.proxy.url("regular"), timeout=20,
                       verify=ssl.create_default_context(cafile=str(gw.proxy.ca_cert))) as c:
        with c.stream("POST", url, headers=headers, content=body) as r:
            for chunk in r.iter_raw():
                messages += parser.feed(chunk)
                if len(messages) == 2:
                    break
    assert [m.event_type for m in messages] == ["messageStart", "contentBlockDelta"]


def test_headers_reach_the_provider_exactly_as_sent(gw, fake):
    """Over a raw TLS connection through CONNECT: odd order, odd case, inner spaces, a repeated
    header and the key in the middle; the fake sees the same fields, only the key gone."""
    import socket

    url, headers = signed_raw(gw, "converse", body := json.dumps({"messages": MESSAGES}).encode())
    fields = [("X-Amz-Date", headers["X-Amz-Date"]), ("host", HOST), ("x-custom", "a  b,   c"),
              (HEADER, gw.key), ("Content-Type", "application/json"), ("x-custom", "second"),
              ("Accept", headers["Accept"]),
              ("Authorization", headers["Authorization"]), ("Content-Length", str(len(body)))]
    path = url.removeprefix(f"https://{HOST}")
    raw = f"POST {path} HTTP/1.1\r\n".encode() + b"".join(f"{k}: {v}\r\n".encode() for k, v in fields) + b"\r\n" + body
    ctx = ssl.create_default_context(cafile=str(gw.proxy.ca_cert))
    with socket.create_connection(("127.0.0.1", gw.proxy.ports["regular"]), timeout=20) as s:
        s.sendall(f"CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n".encode())
        assert b" 200 " in s.recv(1024)
        with ctx.wrap_socket(s, server_hostname=HOST) as tls:
            tls.sendall(raw)
            answer = tls.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    (req,) = fake.received
    assert req.headers == [(k, v) for k, v in fields if k != HEADER]
    assert req.body == body


def test_a_bedrock_api_key_through_a_reverse_listener(gw, fake):
    """A bearer API key is no signature over the Host: the reverse listener may carry it."""
    mark = last_id(gw.db_path)
    with httpx2.Client(base_url=gw.proxy.url("reverse"), timeout=20) as c:
        r = c.post(f"/model/{quote(MODEL, safe='')}/converse", json={"messages": MESSAGES},
                   headers={"Authorization": "Bearer ABSKZmFrZS1hcGkta2V5", HEADER: gw.key})
    assert r.status_code == 200, r.text
    (row,) = gw.rows(mark)
    check(row, api="bedrock-converse", streamed=False)
