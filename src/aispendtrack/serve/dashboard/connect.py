"""What a new account's dashboard (no call ever, whatever the period picked) shows instead
of empty tables: how to point an SDK at the proxy — the base URLs of the reverse listeners and the regular proxy's address, read from
the configured `[proxy]` modes (`scripts/run --mode …` can replace them at run time, which
`serve` cannot see), and the `x-aispendtrack-key` header.

Never the key itself: the snippets read it from the environment, curl shows a placeholder.
Pure (no mitmproxy: `serve` never imports it), so mitmproxy's mode grammar is read here:
`type[:data][@[host:]port]`, port 8080 when none is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from aispendtrack.auth.header import HEADER
from aispendtrack.config import Config

PLACEHOLDER = "ask_…"
ENV = "AISPENDTRACK_KEY"
# listen hosts a client on this machine reaches as 127.0.0.1 (all interfaces, or a name)
_LOOPBACK = {"", "0.0.0.0", "::", "[::]", "localhost", "127.0.0.1"}


@dataclass(frozen=True)
class Listener:
    kind: str  # "reverse" or "regular"
    url: str  # http://127.0.0.1:8080: where a client connects
    upstream: str | None  # the reverse target's host


def _address(host: str, port: int) -> str:
    host = "127.0.0.1" if host.lower() in _LOOPBACK else host
    return f"http://[{host}]:{port}" if ":" in host and not host.startswith("[") else f"http://{host}:{port}"


def listeners(cfg: Config) -> list[Listener]:
    """The configured reverse and regular listeners, in config order (other modes left out)."""
    out = []
    for spec in cfg.proxy.modes:
        head, _, listen_at = spec.rpartition("@")
        if not head:
            head, listen_at = listen_at, ""
        kind, _, data = head.partition(":")
        host, _, port = listen_at.rpartition(":") if ":" in listen_at else (None, "", listen_at)
        if kind.lower() not in ("reverse", "regular"):
            continue
        url = _address(cfg.proxy.listen_host if host is None else host, int(port or 8080))
        out.append(Listener(kind.lower(), url, urlsplit(data if "://" in data else f"https://{data}").hostname
                            if kind.lower() == "reverse" else None))
    return out


def has_calls(store, account: str, member_id: int | None) -> bool:
    """Whether the view (the account, or one member's keys) has any call on record, ever."""
    return bool(store.latest_calls(1, account=account, member_id=member_id))


def guide(cfg: Config) -> dict:
    """Base URLs and snippets for the page: `openai` / `anthropic` (base URL or None),
    `proxy` (the regular listener's address or None), `header`, `placeholder`, `env`."""
    found = listeners(cfg)
    reverse = [x for x in found if x.kind == "reverse"]
    anthropic = next((x.url for x in reverse if "anthropic" in (x.upstream or "")), None)
    openai = next((x.url + "/v1" for x in reverse if "anthropic" not in (x.upstream or "")), None)
    proxy = next((x.url for x in found if x.kind == "regular"), None)
    return {"openai": openai, "anthropic": anthropic, "proxy": proxy, "header": HEADER,
            "placeholder": PLACEHOLDER, "env": ENV}
