import pytest

from mitmproxy.test import taddons, tflow

from aispendtrack.proxy.redact import Redact, hint, redact
from aispendtrack.proxy.state import META, FlowState


def test_hint_keeps_only_a_recognisable_stub():
    assert hint("Bearer sk-proj-abcdefghijklmnop1234") == "Bearer sk-...1234 (redacted by AiSpendTrack)"
    assert hint("short") == "... (redacted by AiSpendTrack)"


def test_hint_reads_as_text_in_the_console():
    from mitmproxy.utils import strutils

    f = tflow.tflow()
    f.request.headers["authorization"] = "Bearer sk-proj-abcdefghijklmnop1234"
    redact(f.request)
    raw = f.request.headers.fields[-1][1]
    assert strutils.bytes_to_escaped_str(raw) == "Bearer sk-...1234 (redacted by AiSpendTrack)"


def test_redact_headers_and_query_key():
    f = tflow.tflow()
    f.request.path = "/v1beta/models/gemini-2.5-flash:generateContent?key=AIzaSECRETSECRETSECRET&alt=sse"
    f.request.headers["authorization"] = "Bearer sk-SECRETSECRETSECRET"
    f.request.headers["x-api-key"] = "sk-ant-SECRETSECRETSECRET"
    f.request.headers["x-goog-api-key"] = "AIzaSECRETSECRET2"
    assert redact(f.request) == 4
    state = repr(f.get_state())
    assert "SECRETSECRET" not in state
    assert f.request.query["alt"] == "sse"
    assert f.request.headers["authorization"].startswith("Bearer sk-...")


def test_only_provider_bound_flows_and_only_when_enabled():
    r = Redact()
    with taddons.context(r) as tctx:
        plain = tflow.tflow(resp=True)
        plain.request.headers["authorization"] = "Bearer mine-keep-it-please"
        r.response(plain)
        assert plain.request.headers["authorization"] == "Bearer mine-keep-it-please"
        ours = tflow.tflow(resp=True)
        ours.metadata[META] = FlowState("openai", "chat", "openai", 0.0)
        ours.request.headers["authorization"] = "Bearer sk-SECRETSECRETSECRET"
        tctx.configure(r, aispendtrack_redact_provider_keys=False)
        r.response(ours)
        assert "SECRET" in ours.request.headers["authorization"]
        tctx.configure(r, aispendtrack_redact_provider_keys=True)
        r.error(ours)
        assert "SECRET" not in ours.request.headers["authorization"]


SECRET = "sk-SECRETSECRETSECRET1234"


# The README's list, written out here (not imported): dropping a name from the module's
# tuple must fail a case.
@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "api-key", "x-goog-api-key", "X-Amz-Security-Token"])
@pytest.mark.parametrize("hook", ["response", "error"])
def test_every_listed_provider_key_header_is_redacted(header, hook):
    r = Redact()
    with taddons.context(r):
        f = tflow.tflow(resp=True, err=hook == "error")
        f.metadata[META] = FlowState("openai", "chat", "openai", 0.0)
        value = f"Bearer {SECRET}" if header == "Authorization" else SECRET
        f.request.headers[header] = value
        getattr(r, hook)(f)
        assert f.request.headers[header] == hint(value)
        assert "SECRETSECRET" not in repr(f.get_state())


def test_query_key_alone_is_redacted_and_the_rest_of_the_query_kept():
    f = tflow.tflow()
    f.request.path = f"/v1beta/models/gemini-2.5-flash:generateContent?alt=sse&key={SECRET}"
    assert redact(f.request) == 1
    assert f.request.query["key"] == hint(SECRET) and f.request.query["alt"] == "sse"
    assert "SECRETSECRET" not in repr(f.get_state())


@pytest.mark.parametrize("token, shown", [("sk-123456789", "..."), ("sk-1234567890", "sk-...7890")])
def test_hint_shows_a_stub_only_of_tokens_longer_than_12(token, shown):
    """Seven of twelve characters would give away most of a short secret: nothing is shown."""
    assert hint(token) == f"{shown} (redacted by AiSpendTrack)"
    assert hint(f"Bearer {token}") == f"Bearer {shown} (redacted by AiSpendTrack)"


def test_option_name_type_default_and_help():
    """`--set aispendtrack_redact_provider_keys=false` needs this name; on unless set; the
    help is what mitmweb's options page shows."""
    r = Redact()
    with taddons.context(r) as tctx:
        option = tctx.options._options["aispendtrack_redact_provider_keys"]
        assert (option.typespec, option.default, tctx.options.aispendtrack_redact_provider_keys) == (bool, True, True)
        assert option.help == ("Replace provider API keys on provider-bound flows once sent, so they reach no log or "
                               "saved flow (replays then lack the provider key).")


def test_a_realtime_browser_sockets_key_subprotocol_is_redacted():
    r = Redact()
    with taddons.context(r):
        f = tflow.tflow(resp=True)
        f.metadata[META] = FlowState("openai", "realtime", "openai", 0.0)
        f.request.headers["Sec-WebSocket-Protocol"] = f"realtime, openai-insecure-api-key.{SECRET}, openai-beta.realtime-v1"
        r.response(f)
        assert f.request.headers["Sec-WebSocket-Protocol"] == \
            "realtime, openai-insecure-api-key.redacted, openai-beta.realtime-v1"
        assert "SECRETSECRET" not in repr(f.get_state())
