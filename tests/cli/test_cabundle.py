import ssl

from click.testing import CliRunner

from aispendtrack.cli import cabundle
from aispendtrack.cli.main import cli


def test_bundle_keeps_every_system_ca_and_adds_mitmproxys(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "elsewhere.pem"))  # never the source
    conf = tmp_path / "conf"
    out = tmp_path / "out" / "bundle.pem"
    result = CliRunner().invoke(cli, ["ca-bundle", str(out), "--confdir", str(conf)])
    assert result.exit_code == 0, result.output
    system = cabundle.system_bundle()
    ctx_system = ssl.create_default_context(cafile=str(system))
    ctx_bundle = ssl.create_default_context(cafile=str(out))
    subjects = {c["serialNumber"] for c in ctx_bundle.get_ca_certs()}
    assert {c["serialNumber"] for c in ctx_system.get_ca_certs()} < subjects
    ca = ssl.create_default_context(cafile=str(conf / "mitmproxy-ca-cert.pem")).get_ca_certs()
    assert ca[0]["serialNumber"] in subjects
    assert f"export SSL_CERT_FILE={out}" in result.output
    assert f"export NODE_EXTRA_CA_CERTS={conf / 'mitmproxy-ca-cert.pem'}" in result.output


def test_existing_ca_is_reused_and_certifi_can_be_the_source(tmp_path):
    import certifi

    conf = tmp_path / "conf"
    runner = CliRunner()
    assert runner.invoke(cli, ["ca-bundle", str(tmp_path / "a.pem"), "--confdir", str(conf)]).exit_code == 0
    ca = (conf / "mitmproxy-ca-cert.pem").read_text()
    result = runner.invoke(cli, ["ca-bundle", str(tmp_path / "b.pem"), "--confdir", str(conf), "--certifi"])
    assert result.exit_code == 0, result.output
    assert (conf / "mitmproxy-ca-cert.pem").read_text() == ca
    text = (tmp_path / "b.pem").read_text()
    assert text.startswith(open(certifi.where()).read().rstrip()) and text.rstrip().endswith(ca.strip())


def test_unwritable_path_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(cli, ["ca-bundle", str(tmp_path / "file" / "b.pem"), "--confdir", str(tmp_path / "c")])
    assert result.exit_code == 1 and "ca-bundle:" in result.output
