"""The vault end to end: `aispendtrack providers set` (a real CLI process, the secret on
stdin), a real mitmdump on the fake provider, the official SDKs. The upstream receives the
vaulted key and never the client's (`inject`); `require` refuses a client's key; a rotation
under load loses no call; a wrong master key, or a sealed key copied to another account, is
answered 503 naming the fix; and afterwards the plaintext secret is in no file the run
wrote: database, WAL, mitmdump's log at debug with full flow dumps, saved flows."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import threading

import anthropic
import openai
import pytest

from aispendtrack.config import Config
from aispendtrack.proxy.auth import HEADER
from support.harness import MITMDUMP

VAULT_OPENAI = "sk-proj-VAULTEDopenaiSECRET0123456789abcd"
VAULT_ANTHROPIC = "sk-ant-api03-VAULTEDanthropicSECRET01234567"
CLIENT_KEY = "sk-proj-CLIENTownKEYthatMUSTnotPASS987654"
MSGS = [{"role": "user", "content": "hello"}]


def cli(db_path, *args, stdin: str | None = None, ok: bool = True, env=None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(MITMDUMP.parent / "aispendtrack"), "--db", str(db_path), *args], input=stdin,
                            capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result


def received_credentials(fake) -> list[tuple[str | None, str | None]]:
    return [(r.header("authorization"), r.header("x-api-key")) for r in fake.received]


def test_vaulted_keys_end_to_end(tmp_path, db_path, store, fake, make_proxy):
    store.create_account("acme", "pro")
    key = store.create_key("acme", Config(), name="ci").key
    store.create_account("umbrella", "pro")
    other_key = store.create_key("umbrella", Config(), name="other").key
    out = cli(db_path, "providers", "set", "acme", "openai", stdin=VAULT_OPENAI + "\n").stdout
    out += cli(db_path, "providers", "set", "acme", "anthropic", stdin=VAULT_ANTHROPIC).stdout
    flows = tmp_path / "flows.mitm"
    modes = {"openai": "reverse:" + fake.url + "@{port}", "anthropic": "reverse:" + fake.url + "@{port}"}
    proxy = make_proxy(modes, extra_args=["--set", "termlog_verbosity=debug", "--set", "flow_detail=4",
                                          "-w", str(flows)])

    def oa(api_key=CLIENT_KEY, ask=key):
        return openai.OpenAI(base_url=proxy.url("openai") + "/v1", api_key=api_key, max_retries=0,
                             default_headers={HEADER: ask})

    def an(api_key=CLIENT_KEY):
        return anthropic.Anthropic(base_url=proxy.url("anthropic"), api_key=api_key, max_retries=0,
                                   default_headers={HEADER: key})

    # inject: the client's own key is replaced, streamed or not
    assert oa().chat.completions.create(model="gpt-4o-mini", messages=MSGS).usage.prompt_tokens
    assert list(oa().chat.completions.create(model="gpt-4o-mini", messages=MSGS, stream=True))
    assert an().messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=MSGS).usage.output_tokens
    assert received_credentials(fake) == [(f"Bearer {VAULT_OPENAI}", None)] * 2 + [(None, VAULT_ANTHROPIC)]

    # require: a client's key is refused in the provider's format; the placeholder passes
    cli(db_path, "providers", "mode", "acme", "require")
    with pytest.raises(openai.PermissionDeniedError, match="mode require"):
        oa().chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    with pytest.raises(anthropic.PermissionDeniedError, match="was sent"):
        an().messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=MSGS)
    assert len(fake.received) == 3  # neither went upstream
    assert oa("vault").chat.completions.create(model="gpt-4o-mini", messages=MSGS).usage.prompt_tokens
    assert fake.received[-1].header("authorization") == f"Bearer {VAULT_OPENAI}"

    # a rotation of the master key under load loses no call
    failures: list[BaseException] = []
    stop = threading.Event()

    def load():
        client = oa("vault")
        while not stop.is_set():
            try:
                client.chat.completions.create(model="gpt-4o-mini", messages=MSGS)
            except BaseException as e:  # noqa: BLE001 - every failure is the test's
                failures.append(e)

    workers = [threading.Thread(target=load) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        for _ in range(3):
            assert "Resealed 2 provider key(s)" in cli(db_path, "vault", "rotate").stdout
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert failures == []
    assert {r.header("authorization") for r in fake.received[4:]} == {f"Bearer {VAULT_OPENAI}"}

    # a sealed key copied into another account does not open there: 503, never forwarded
    sent = len(fake.received)
    with sqlite3.connect(db_path) as db:
        db.execute("""INSERT INTO provider_credentials SELECT (SELECT id FROM accounts WHERE name = 'umbrella'),
                      provider, key_id, master_key_id, sealed, hint, set_by, set_at FROM provider_credentials
                      WHERE provider = 'openai'""")
    cli(db_path, "providers", "mode", "umbrella", "inject")  # any vault change: the proxies reload
    with pytest.raises(openai.InternalServerError, match="copied from another account") as refused:
        oa(ask=other_key).chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert refused.value.status_code == 503 and len(fake.received) == sent
    listed = cli(db_path, "providers", "list", "umbrella", ok=False)
    assert "do not decrypt" in listed.stderr
    proxy.stop()

    # a gateway started with a wrong master key: 503 naming the fix
    wrong = base64.b64encode(os.urandom(32)).decode()
    proxy = make_proxy(modes, env={"AISPENDTRACK_VAULT_KEY": wrong})
    with pytest.raises(openai.InternalServerError, match="does not hold") as refused:
        oa("vault").chat.completions.create(model="gpt-4o-mini", messages=MSGS)
    assert "providers list" in str(refused.value) and len(fake.received) == sent
    proxy.stop()

    # no plaintext provider secret in anything the run wrote, nor in the CLI's output
    out += cli(db_path, "providers", "list", "acme", "--json").stdout
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert flows in written and any(p.name.endswith("-wal") for p in written)
    for secret in (VAULT_OPENAI, VAULT_ANTHROPIC):
        assert secret not in out
        for p in written:
            assert secret.encode() not in p.read_bytes(), p
            assert secret[8:30].encode() not in p.read_bytes(), p
