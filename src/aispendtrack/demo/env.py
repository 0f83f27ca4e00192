"""The demo's world: working directory, config, accounts and keys, fake provider, proxy, SDK clients."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from aispendtrack import config as configmod
from aispendtrack.store import open_store
from aispendtrack.store.base import SqlStore
from aispendtrack.auth.header import HEADER
from aispendtrack.demo.checks import Ledger
from aispendtrack.demo.steps import Steps
from aispendtrack.demo.fake.server import FakeProvider
from aispendtrack.launch import Mitmdump

FREE_LIMIT = 3  # requests per hour for the free tier in the demo config
GRACE = 60  # rotation grace, seconds
SDK_TIMEOUT = 15.0  # seconds per SDK request

CONFIG_TOML = f"""\
# AiSpendTrack demo config (written by `aispendtrack demo`).
# Both reverse listeners forward to the local fake provider; the provider is told by
# the path shape (/v1/chat/completions → openai, /v1/messages → anthropic).

[keys]
rotation_grace_seconds = {GRACE}

[tiers.free]
requests_per_hour = {FREE_LIMIT}
"""


@contextmanager
def workdir_for(keep: Path | None) -> Iterator[Path]:
    """`--keep DIR` (created, refused if it already holds a demo), else a temporary directory removed at the end."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        if (keep / "aispendtrack.db").exists():
            raise click.ClickException(f"{keep} already holds a demo database; choose a new directory")
        yield keep
        return
    workdir = Path(tempfile.mkdtemp(prefix="aispendtrack-demo-"))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


class Demo(Steps):
    def __init__(self, workdir: Path, console: Console):
        super().__init__(console)
        self.openai: Any = None
        self.anthropic: Any = None
        self.workdir = workdir
        self.config_path = workdir / "mitm.toml"
        self.db_path = workdir / "aispendtrack.db"
        self.stack = ExitStack()
        self.clients = ExitStack()  # closed before the proxy stops: no open keep-alive connections
        self.fake: FakeProvider | None = None
        self.proxy: Mitmdump | None = None
        self.ledger: Ledger | None = None
        self.store: SqlStore | None = None  # the demo database, as the CLI commands open it
        self.proxy_output = ""

    def skip_reason(self) -> str | None:
        if self.proxy is not None and not self.proxy.running:
            return f"skipped: mitmdump exited with {self.proxy.proc.returncode}"
        return None

    # ---- set-up
    def setup(self) -> None:
        import anthropic  # the SDKs take a few seconds to import: after the banner
        import openai

        self.openai, self.anthropic = openai, anthropic
        self.config_path.write_text(CONFIG_TOML, encoding="utf-8")
        self.config = configmod.load_config(self.config_path)
        self.store = store = open_store(self.db_path)
        self.stack.callback(store.close)
        store.create_account("demo-team", "pro")
        store.create_account("demo-free", "free")
        self.key_main = store.create_key("demo-team", self.config, name="main")
        self.key_rotating = store.create_key("demo-team", self.config, name="rotating")
        self.key_revoked = store.create_key("demo-team", self.config, name="to-revoke")
        self.key_free = store.create_key("demo-free", self.config, name="free")
        hints = ", ".join(f"{k.name} {k.hint}" for k in (self.key_main, self.key_rotating, self.key_revoked))
        self.line(True, "accounts and keys",
                  f"demo-team (pro tier): {hints}; demo-free (free tier, {FREE_LIMIT} requests/hour): {self.key_free.hint}")  # fmt: skip

        self.fake = FakeProvider(stream_delay=0.005)
        self.fake.record = True
        self.fake.start()
        self.stack.callback(self.fake.stop)
        self.line(True, "fake provider", f"OpenAI and Anthropic wire formats on {self.fake.url}")

        target = self.fake.url
        self.proxy = Mitmdump(
            modes=[f"reverse:{target}@{{port}}", f"reverse:{target}@{{port}}"],
            config_path=self.config_path, db_path=self.db_path, workdir=self.workdir,
            # no -q: it would hide an info-level session summary; flow lines are off instead
            extra_args=["--set", "flow_detail=0"],
        )  # fmt: skip
        self.stack.callback(self.proxy.stop)
        self.proxy.start()
        self.line(True, "proxy", f"mitmdump with the addon: OpenAI at {self.proxy.url(0)}/v1, Anthropic at {self.proxy.url(1)}")
        self.ledger = Ledger(store)

    # ---- clients
    def _client(self, sdk: Any, cls: Any, base_url: str, api_key: str, key: str | None):
        headers = {HEADER: key} if key else {}
        client = cls(
            base_url=base_url, api_key=api_key, default_headers=headers,
            max_retries=0, timeout=SDK_TIMEOUT, http_client=sdk.DefaultHttpxClient(trust_env=False),
        )  # fmt: skip
        self.clients.callback(client.close)
        return client

    def oa(self, key: str | None):
        return self._client(self.openai, self.openai.OpenAI, self.proxy.url(0) + "/v1", "sk-demo-provider-key", key)

    def an(self, key: str | None):
        return self._client(self.anthropic, self.anthropic.Anthropic, self.proxy.url(1), "sk-ant-demo-provider-key", key)

    def chat(self, client, model: str = "gpt-4o-mini") -> Any:
        return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say hi"}])

    def received(self) -> int:
        return len(self.fake.received)

    def close(self) -> None:
        try:
            self.clients.close()
        finally:
            self.stack.close()
