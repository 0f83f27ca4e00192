"""Regular (HTTPS_PROXY) mode: HTTPS through the mitmproxy CA, only provider hosts touched."""

import ssl

import anthropic
import httpx2
import openai
import pytest

from aispendtrack.proxy.auth import HEADER

from support.harness import REPO
from support.tls_origin import through_tunnel


@pytest.fixture
def regular_proxy(make_proxy, fake):
    return make_proxy(
        {"regular": "regular@{port}"},
        extra_args=["-s", str(REPO / "tests" / "support" / "redirect_upstream.py")],
        env={"AISPENDTRACK_TEST_UPSTREAM": f"127.0.0.1:{fake.port}"},
    )


def client_via_proxy(proxy):
    return httpx2.Client(proxy=proxy.url("regular"), verify=ssl.create_default_context(cafile=str(proxy.ca_cert)),
                         timeout=20)


def test_openai_sdk_over_https_proxy(regular_proxy, fake, account_key):
    client = openai.OpenAI(api_key="sk-test", http_client=client_via_proxy(regular_proxy), max_retries=0,
                           default_headers={HEADER: account_key.key})
    r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert r.usage.prompt_tokens > 0
    (req,) = fake.received
    assert req.header(HEADER) is None
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="sk-test", http_client=client_via_proxy(regular_proxy), max_retries=0).models.list()
    assert len(fake.received) == 1


def test_anthropic_sdk_over_https_proxy(regular_proxy, fake, account_key):
    client = anthropic.Anthropic(api_key="sk-ant", http_client=client_via_proxy(regular_proxy), max_retries=0,
                                 default_headers={HEADER: account_key.key})
    msg = client.messages.create(model="claude-sonnet-4-6", max_tokens=20, messages=[{"role": "user", "content": "x"}])
    assert msg.usage.output_tokens > 0
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(api_key="sk-ant", http_client=client_via_proxy(regular_proxy), max_retries=0).messages.create(
            model="claude-sonnet-4-6", max_tokens=20, messages=[{"role": "user", "content": "x"}])


def test_non_provider_tls_is_not_intercepted(regular_proxy, tmp_path):
    """Other HTTPS is tunnelled: the client sees the origin's own certificate, not the CA's."""
    # verified against the origin's own self-signed certificate: no interception
    assert through_tunnel(regular_proxy.ports["regular"], tmp_path, "origin.test").endswith(b"origin")


def test_ca_bundle_lets_the_sdk_trust_the_proxy(regular_proxy, account_key, tmp_path):
    from click.testing import CliRunner

    from aispendtrack.cli.main import cli

    bundle = tmp_path / "bundle.pem"
    result = CliRunner().invoke(cli, ["ca-bundle", str(bundle), "--confdir", str(regular_proxy.confdir)])
    assert result.exit_code == 0, result.output
    assert f"export SSL_CERT_FILE={bundle}" in result.output
    http = httpx2.Client(proxy=regular_proxy.url("regular"), verify=ssl.create_default_context(cafile=str(bundle)))
    client = openai.OpenAI(api_key="sk-test", http_client=http, max_retries=0, default_headers={HEADER: account_key.key})
    r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert r.usage.prompt_tokens > 0


def test_untrusted_certificate_log_line_says_what_to_do(regular_proxy, account_key):
    import time

    client = openai.OpenAI(api_key="sk-test", max_retries=0, default_headers={HEADER: account_key.key},
                           http_client=httpx2.Client(proxy=regular_proxy.url("regular"), timeout=10))
    with pytest.raises(openai.APIConnectionError):
        client.models.list()
    deadline = time.monotonic() + 5
    while "aispendtrack ca-bundle" not in regular_proxy.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    out = regular_proxy.output()
    assert "rejected the proxy's certificate for api.openai.com" in out and "SSL_CERT_FILE" in out, out[-2000:]
