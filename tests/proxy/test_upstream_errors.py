import json

import pytest
from mitmproxy import flow as mflow
from mitmproxy.test import taddons, tflow

from aispendtrack.proxy import upstream_errors
from aispendtrack.proxy.state import META, FlowState
from aispendtrack.proxy.upstream_errors import UpstreamErrors, reason, upstream_message


@pytest.mark.parametrize("error, expected", [
    ("[Errno -2] Name or service not known", "name not resolved"),
    ("[Errno -3] Temporary failure in name resolution", "name not resolved"),
    ("Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 1)", "connection refused"),
    ("[Errno 111] Connection refused", "connection refused"),
    ("TimeoutError()", "connection timed out"),
    ("Certificate verify failed: unable to get local issuer certificate", "its TLS certificate is not trusted"),
    ("peer closed connection", "connection closed before the response was complete"),
    ("something new.", "something new"),
    ("", "failed"),
])
def test_reason_names_the_cause(error, expected):
    assert reason(error) == expected


def test_message_names_the_host_and_the_port_only_when_unusual():
    assert upstream_message("api.openai.com", 443, "Name or service not known") == (
        "AiSpendTrack: upstream api.openai.com: name not resolved")
    assert upstream_message("10.0.0.5", 8000, "Connection refused") == (
        "AiSpendTrack: upstream 10.0.0.5:8000: connection refused")


def flow_with(shape: str, error: str):
    f = tflow.tflow(resp=False)
    f.request.host, f.request.port = "api.anthropic.com", 443
    f.metadata[META] = FlowState("openai", "chat", shape, 0.0)
    f.error = mflow.Error(error)
    return f


@pytest.mark.parametrize("shape, message_of", [
    ("openai", lambda b: b["error"]["message"]),
    ("anthropic", lambda b: b["error"]["message"] if b["type"] == "error" else None),
    ("google", lambda b: b["error"]["message"] if b["error"]["status"] == "UNAVAILABLE" else None),
])
def test_failed_flow_gets_a_provider_shaped_answer_for_its_connection(shape, message_of):
    addon = UpstreamErrors()
    f = flow_with(shape, "[Errno -2] Name or service not known")
    with taddons.context(addon):
        addon.error(f)
    raw = upstream_errors._pending.pop(f.client_conn.id)
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 502 ") and b"content-type: application/json" in head
    assert message_of(json.loads(body)) == "AiSpendTrack: upstream api.anthropic.com: name not resolved"


@pytest.mark.parametrize("error", ["Client disconnected.", mflow.Error.KILLED_MESSAGE])
def test_client_gone_or_killed_gets_nothing(error):
    addon = UpstreamErrors()
    f = flow_with("openai", error)
    addon.error(f)
    assert f.client_conn.id not in upstream_errors._pending


def test_unrelated_flow_and_disconnect_leave_nothing_behind():
    addon = UpstreamErrors()
    f = flow_with("openai", "Connection refused")
    del f.metadata[META]
    addon.error(f)
    assert f.client_conn.id not in upstream_errors._pending
    f = flow_with("openai", "Connection refused")
    addon.error(f)
    addon.client_disconnected(f.client_conn)
    assert f.client_conn.id not in upstream_errors._pending


def test_http2_flow_gets_its_answer_per_stream_without_a_connection_header():
    addon = UpstreamErrors()
    f = flow_with("openai", "[Errno 111] Connection refused")
    f.request.http_version = "HTTP/2.0"
    addon.error(f)
    assert f.client_conn.id not in upstream_errors._pending  # not the HTTP/1 connection-wide answer
    client_id, resp = upstream_errors._pending_h2[f.id]
    assert client_id == f.client_conn.id and resp.status_code == 502 and "connection" not in resp.headers
    assert json.loads(resp.content)["error"]["message"] == "AiSpendTrack: upstream api.anthropic.com: connection refused"
    addon.client_disconnected(f.client_conn)
    assert f.id not in upstream_errors._pending_h2
