"""Secret hygiene: after a full run, no plaintext AiSpendTrack key anywhere the system wrote.

One mitmdump at debug verbosity with full flow dumps (`flow_detail=4`) and `-w flows.mitm`
serves OpenAI and Anthropic SDK calls (good, wrong, rotated keys; streamed and not) and
Gemini calls carrying the provider key in `?key=` and `x-goog-api-key`. Afterwards every
file under the run directory — database (+ -wal/-shm), mitmdump's log, the saved flows —
is searched for each `ask_` key (and its 32-character body). Provider keys must not be in
the ledger; the saved flows legitimately keep them (mitmproxy saves requests as sent).
"""

from __future__ import annotations

import sqlite3

import anthropic
import httpx2
import openai
import pytest

from aispendtrack.store import keys
from aispendtrack.proxy.auth import HEADER
from aispendtrack.config import Config

OPENAI_KEY = "sk-proj-SECRETopenaiPROVIDERkey0123456789"
ANTHROPIC_KEY = "sk-ant-api03-SECRETanthropicPROVIDERkey0123"
GEMINI_QUERY_KEY = "AIzaSyQUERYsecretGEMINIkey0123456789abc"
GEMINI_HEADER_KEY = "AIzaSyHEADERsecretGEMINIkey0123456789ab"
PROVIDER_KEYS = [OPENAI_KEY, ANTHROPIC_KEY, GEMINI_QUERY_KEY, GEMINI_HEADER_KEY]


def test_no_plaintext_key_anywhere_after_a_full_run(tmp_path, db_path, store, fake, make_proxy):
    store.create_account("acme", "pro")
    good = store.create_key("acme", Config(), name="good")
    rotated_old = store.create_key("acme", Config(), name="rotated")
    rotated_new = store.rotate_key(rotated_old.id, Config())  # old one stays valid (grace)
    revoked = store.create_key("acme", Config(), name="revoked")
    store.revoke_key(revoked.id)
    wrong = keys.generate_key()  # well-formed, never stored
    used = [good.key, rotated_old.key, rotated_new.key, revoked.key, wrong]
    flows = tmp_path / "flows.mitm"
    proxy = make_proxy(
        {"openai": "reverse:" + fake.url + "@{port}", "anthropic": "reverse:" + fake.url + "@{port}",
         "gemini": "reverse:" + fake.url + "@{port}"},
        extra_args=["--set", "termlog_verbosity=debug", "--set", "flow_detail=4", "-w", str(flows)],
    )

    def oa(key):
        return openai.OpenAI(base_url=proxy.url("openai") + "/v1", api_key=OPENAI_KEY, max_retries=0,
                             default_headers={HEADER: key})

    def an(key):
        return anthropic.Anthropic(base_url=proxy.url("anthropic"), api_key=ANTHROPIC_KEY, max_retries=0,
                                   default_headers={HEADER: key})

    msgs = [{"role": "user", "content": "hello"}]
    for key in (good.key, rotated_old.key, rotated_new.key):
        assert oa(key).chat.completions.create(model="gpt-4o-mini", messages=msgs).usage.prompt_tokens
        chunks = list(oa(key).chat.completions.create(model="gpt-4o-mini", messages=msgs, stream=True))
        assert chunks
        assert an(key).messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=msgs).usage.output_tokens
        with an(key).messages.stream(model="claude-sonnet-4-5", max_tokens=20, messages=msgs) as s:
            assert s.get_final_message().usage.output_tokens
    oa(good.key).embeddings.create(model="text-embedding-3-small", input="x")
    for key in (wrong, revoked.key):
        with pytest.raises(openai.AuthenticationError):
            oa(key).chat.completions.create(model="gpt-4o-mini", messages=msgs)
        with pytest.raises(anthropic.AuthenticationError):
            an(key).messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=msgs)
    # two key headers, and a key with junk appended: refused without echoing it
    r = httpx2.post(proxy.url("openai") + "/v1/embeddings", json={"model": "m", "input": "x"},
                    headers=[(HEADER, good.key), (HEADER, wrong)])
    assert r.status_code == 401
    r = httpx2.post(proxy.url("openai") + "/v1/embeddings", json={"model": "m", "input": "x"},
                    headers={HEADER: good.key + "X"})
    assert r.status_code == 401 and good.key not in r.text
    # our key sent by mistake in the query string: removed before anything sees or logs it
    r = httpx2.post(proxy.url("openai") + f"/v1/embeddings?{HEADER}={good.key}&user=1",
                    json={"model": "m", "input": "x"}, headers={HEADER: good.key})
    assert r.status_code == 200 and fake.received[-1].path == "/v1/embeddings?user=1"
    r = httpx2.post(proxy.url("openai") + f"/v1/embeddings?{HEADER.upper()}={good.key}", json={"model": "m", "input": "x"})
    assert r.status_code == 401 and "query string" in r.text and good.key not in r.text
    # Gemini: provider key in the query string and in x-goog-api-key
    gem = proxy.url("gemini") + "/v1beta/models/gemini-2.5-flash"
    body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    r = httpx2.post(gem + f":generateContent?key={GEMINI_QUERY_KEY}", json=body, headers={HEADER: good.key})
    assert r.status_code == 200, r.text
    r = httpx2.post(gem + ":streamGenerateContent?alt=sse", json=body,
                    headers={HEADER: good.key, "x-goog-api-key": GEMINI_HEADER_KEY})
    assert r.status_code == 200 and b"usageMetadata" in r.content
    r = httpx2.post(gem + f":generateContent?key={GEMINI_QUERY_KEY}", json=body, headers={HEADER: wrong})
    assert r.status_code == 401
    proxy.stop()  # flush the ledger, write the session summary, close the flow file

    # the upstream never saw an AiSpendTrack key
    assert fake.received
    for req in fake.received:
        blob = (req.method + req.path + repr(req.headers)).encode() + req.body
        for k in used:
            assert k.encode() not in blob and k[4:].encode() not in blob, req
        assert req.header(HEADER) is None

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert "flows.mitm" in names and flows.stat().st_size > 0
    assert db_path.name in names
    log = proxy.output()
    # the run really was verbose: full request headers were dumped, credentials as hints
    assert "x-goog-api-key" in log and "(redacted by AiSpendTrack)" in log
    checked = 0
    for p in written:
        data = p.read_bytes()
        for k in used:
            for needle in (k, k[4:]):  # the key, and its secret body alone
                for enc in ("utf-8", "utf-16-le"):
                    assert needle.encode(enc) not in data, f"plaintext key {k[:8]}… found in {p}"
                    checked += 1
    print(f"\nsecrets: {len(used)} keys searched in {len(written)} files ({checked} searches)")

    # provider keys: in no file the system wrote (ledger, log, saved flows); rows really
    # were written (hints, not keys)
    for p in written:
        data = p.read_bytes()
        for k in PROVIDER_KEYS:
            assert k.encode() not in data and k.encode("utf-16-le") not in data, f"provider key in {p}"
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute("SELECT key_hint, path, outcome, error, usage_json FROM calls").fetchall()
    finally:
        conn.close()
    assert len(rows) >= 20
    assert {r[0] for r in rows if r[0]} >= {keys.hint(good.key), keys.hint(rotated_new.key)}
    for r in rows:
        text = repr(r)
        assert "?" not in (r[1] or "") and "key=" not in text
        for k in PROVIDER_KEYS + used:
            assert k not in text
