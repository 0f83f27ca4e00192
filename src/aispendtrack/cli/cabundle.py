"""`aispendtrack ca-bundle`: the system's CAs plus mitmproxy's, for regular (HTTPS_PROXY) mode.

`SSL_CERT_FILE` / `REQUESTS_CA_BUNDLE` replace a client's whole trust store: pointed at
mitmproxy's CA alone, every other HTTPS call of that process fails. A bundle of the
system's CAs and mitmproxy's keeps both working.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import certifi
import click
from mitmproxy import certs
from mitmproxy.options import CONF_BASENAME, CONF_DIR, KEY_SIZE

BEGIN = "-----BEGIN CERTIFICATE-----"
BUNDLE_NAME = "aispendtrack-ca-bundle.pem"
# Debian/Ubuntu, Fedora/RHEL, Alpine/macOS; OpenSSL's own default first.
_SYSTEM_BUNDLES = [
    ssl.get_default_verify_paths().openssl_cafile,
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
]


def system_bundle() -> Path:
    """The system's CA file (never $SSL_CERT_FILE, which may be the CA alone), else certifi's."""
    for candidate in _SYSTEM_BUNDLES:
        path = Path(candidate)
        try:
            if path.is_file() and BEGIN in path.read_text(errors="replace"):
                return path
        except OSError:
            continue
    return Path(certifi.where())


def mitmproxy_ca(confdir: Path) -> Path:
    """mitmproxy's CA certificate in `confdir`, created the way mitmproxy creates it if missing."""
    pem = confdir / f"{CONF_BASENAME}-ca-cert.pem"
    if not pem.exists():
        certs.CertStore.from_store(confdir, CONF_BASENAME, KEY_SIZE)
    return pem


def bundle(system_pem: str, ca_pem: str) -> str:
    """The system's certificates followed by mitmproxy's CA, labelled."""
    return f"{system_pem.rstrip()}\n\n# mitmproxy CA (AiSpendTrack regular mode)\n{ca_pem.strip()}\n"


@click.command("ca-bundle")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--confdir", type=click.Path(file_okay=False, path_type=Path), default=CONF_DIR, show_default=True,
              help="mitmproxy's confdir (where its CA lives; created there if missing).")
@click.option("--certifi", "use_certifi", is_flag=True, help="Start from certifi's bundle instead of the system's.")
def ca_bundle_command(path: Path | None, confdir: Path, use_certifi: bool) -> None:
    """Write the system's CAs plus mitmproxy's CA to PATH (default: CONFDIR/aispendtrack-ca-bundle.pem).

    Point SSL_CERT_FILE / REQUESTS_CA_BUNDLE at it for regular mode: the proxy's
    certificate is trusted and every other HTTPS call keeps working.
    """
    confdir = confdir.expanduser()
    path = (path or confdir / BUNDLE_NAME).expanduser()
    source = Path(certifi.where()) if use_certifi else system_bundle()
    try:
        ca = mitmproxy_ca(confdir)
        text = bundle(source.read_text(), ca.read_text())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        raise click.ClickException(f"ca-bundle: {e}") from None
    count = text.count(BEGIN)
    click.echo(f"Wrote {path}: {count - 1} CAs from {source} + mitmproxy's CA ({ca}).", err=True)
    click.echo(f"export SSL_CERT_FILE={path}        # Python (httpx, openai, anthropic), OpenSSL, Go, Ruby")
    click.echo(f"export REQUESTS_CA_BUNDLE={path}   # requests")
    click.echo(f"export NODE_EXTRA_CA_CERTS={ca}    # Node adds it to its own store")
    click.echo(f"export CURL_CA_BUNDLE={path}       # curl (or curl --cacert {path})")
