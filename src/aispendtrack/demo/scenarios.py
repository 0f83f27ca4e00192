"""The SDK scenarios: good calls through both official SDKs, then missing, rotated and revoked keys,
a hit rate limit and an unknown model. Each returns the line to print or raises `StepFailed`."""

from __future__ import annotations

import time
from typing import Any

from aispendtrack.store.ledger_schema import Outcome
from aispendtrack.demo.checks import StepFailed, api_message, check_metered, check_refused, describe
from aispendtrack.demo.env import FREE_LIMIT, GRACE, Demo

KEYCACHE_WAIT = 0.75  # the proxy's key cache polls the store every 0.25 s
KEYCACHE_DEADLINE = 5.0
UNKNOWN_MODEL = "acme-private-llm-7b"
REACHED_PROVIDER = "the refused call reached the provider"


def metered(d: Demo, reply: Any, missing: str, **expect: Any) -> str:
    """A good call: the client got a reply and the ledger holds the documented row."""
    if not reply:
        raise StepFailed(missing)
    row = d.ledger.one()
    check_metered(row, **expect)
    return describe(row)


def run_scenarios(d: Demo) -> None:
    oa, an = d.oa(d.key_main.key), d.an(d.key_main.key)

    def chat() -> str:
        r = d.chat(oa)
        return metered(d, r.choices[0].message.content, "empty reply", provider="openai", api="chat", streamed=False)

    def chat_stream() -> str:
        stream = oa.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Count to three"}], stream=True)
        text, usage_seen = "", False
        for chunk in stream:
            usage_seen |= chunk.usage is not None
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
        line = metered(d, text, "no text streamed", provider="openai", api="chat", streamed=True)
        return line + (" (usage requested by the proxy, hidden from the client)" if not usage_seen else "")

    def responses() -> str:
        r = oa.responses.create(model="gpt-4o-mini", input="Write a haiku about invoices")
        return metered(d, r.output_text, "empty reply", provider="openai", api="responses", streamed=False)

    def embeddings() -> str:
        r = oa.embeddings.create(model="text-embedding-3-small", input="the quick brown fox")
        return metered(d, r.data and r.data[0].embedding, "no embedding",
                       provider="openai", api="embeddings", streamed=False, output=False)  # fmt: skip

    def messages() -> str:
        msg = an.messages.create(model="claude-sonnet-4-5", max_tokens=200,
                                 messages=[{"role": "user", "content": "Say hi"}])  # fmt: skip
        return metered(d, msg.content and msg.content[0].text, "empty reply",
                       provider="anthropic", api="messages", streamed=False, cache_write=True)  # fmt: skip

    def messages_stream() -> str:
        with an.messages.stream(model="claude-sonnet-4-5", max_tokens=200,
                                messages=[{"role": "user", "content": "Count to three"}]) as s:  # fmt: skip
            text = "".join(s.text_stream)
            s.get_final_message()
        return metered(d, text, "no text streamed", provider="anthropic", api="messages", streamed=True, cache_write=True)

    d.step("OpenAI chat (non-streamed)", chat)
    d.step("OpenAI chat (streamed)", chat_stream)
    d.step("OpenAI Responses API", responses)
    d.step("OpenAI embeddings", embeddings)
    d.step("Anthropic messages (non-streamed, prompt cache)", messages)
    d.step("Anthropic messages (streamed, prompt cache)", messages_stream)
    d.step("missing key → 401", lambda: missing_key(d))
    d.step("rotated key: old and new both work during grace", lambda: rotated_key(d))
    d.step("revoked key → 401", lambda: revoked_key(d))
    d.step(f"rate limit: free tier, {FREE_LIMIT} requests/hour → 429", lambda: rate_limit(d))
    d.step("unknown model → unpriced", lambda: unknown_model(d))


def missing_key(d: Demo) -> str:
    before = d.received()
    try:
        d.chat(d.oa(None))
    except d.openai.AuthenticationError as e:
        msg, status = api_message(e), e.status_code
    else:
        raise StepFailed("the call without a key succeeded; expected AuthenticationError (401)")
    row = d.ledger.one()
    check_refused(row, 401, Outcome.REJECTED)
    if d.received() != before:
        raise StepFailed(REACHED_PROVIDER)
    return f"{status} AuthenticationError: {msg}"


def _until_accepted(d: Demo, client) -> None:
    """New secrets reach the proxy's key cache within a poll; wait (bounded) for it."""
    time.sleep(KEYCACHE_WAIT)
    deadline = time.monotonic() + KEYCACHE_DEADLINE
    while True:
        try:
            d.chat(client)
            return
        except d.openai.AuthenticationError:
            d.ledger.new_rows(1)
            if time.monotonic() >= deadline:
                raise StepFailed(f"the new secret was still refused after {KEYCACHE_WAIT + KEYCACHE_DEADLINE:g} s")
            time.sleep(0.25)


def rotated_key(d: Demo) -> str:
    old = d.key_rotating
    d.chat(d.oa(old.key))
    d.ledger.one()
    new = d.store.rotate_key(old.id, d.config)
    _until_accepted(d, d.oa(new.key))
    new_row = d.ledger.one()
    d.chat(d.oa(old.key))
    old_row = d.ledger.one()
    for row, k in ((new_row, new), (old_row, old)):
        check_metered(row, provider="openai", api="chat", streamed=False)
        if row["key_id"] != old.id or row["key_hint"] != k.hint:
            raise StepFailed(f"ledger row key {row['key_id']} {row['key_hint']}, expected {old.id} {k.hint}")
    return (f"rotated {old.id}: new {new.hint} → {new_row['status']}, old {old.hint} → {old_row['status']} "
            f"(old secret valid {GRACE} s more; one key id in the ledger)")  # fmt: skip


def revoked_key(d: Demo) -> str:
    k = d.key_revoked
    client = d.oa(k.key)
    d.chat(client)
    d.ledger.one()
    d.store.revoke_key(k.id)
    time.sleep(KEYCACHE_WAIT)
    deadline = time.monotonic() + KEYCACHE_DEADLINE
    while True:
        before = d.received()
        try:
            d.chat(client)
        except d.openai.AuthenticationError as e:
            msg, status = api_message(e), e.status_code
            break
        d.ledger.one()  # still accepted: the cache has not seen the revocation yet
        if time.monotonic() >= deadline:
            raise StepFailed(f"key {k.hint} still accepted {KEYCACHE_WAIT + KEYCACHE_DEADLINE:g} s after revocation")
        time.sleep(0.25)
    check_refused(d.ledger.one(), 401, Outcome.REJECTED)
    if d.received() != before:
        raise StepFailed(REACHED_PROVIDER)
    return f"{k.hint} worked, then revoked: {status} AuthenticationError: {msg}"


def rate_limit(d: Demo) -> str:
    client = d.oa(d.key_free.key)
    admitted = 0
    for _ in range(FREE_LIMIT + 5):
        before = d.received()
        try:
            d.chat(client)
        except d.openai.RateLimitError as e:
            retry_after = e.response.headers.get("retry-after")
            msg = api_message(e)
            break
        admitted += 1
        d.ledger.one()
    else:
        raise StepFailed(f"no 429 after {admitted} requests (limit {FREE_LIMIT}/hour)")
    check_refused(d.ledger.one(), 429, Outcome.RATE_LIMITED)
    problems = []
    if admitted != FREE_LIMIT:
        problems.append(f"{admitted} requests admitted before the 429, expected {FREE_LIMIT}")
    if not (retry_after or "").isdigit() or int(retry_after) < 1:
        problems.append(f"retry-after {retry_after!r}, expected whole seconds >= 1")
    if d.received() != before:
        problems.append(REACHED_PROVIDER)
    if problems:
        raise StepFailed("; ".join(problems))
    return f"{admitted} calls admitted, call {admitted + 1} → 429 RateLimitError, retry-after {retry_after} s: {msg}"


def unknown_model(d: Demo) -> str:
    r = d.chat(d.oa(d.key_main.key), model=UNKNOWN_MODEL)
    if not r.choices[0].message.content:
        raise StepFailed("empty reply")
    row = d.ledger.one()
    problems = []
    if row.get("status") != 200 or row.get("outcome") != Outcome.FORWARDED:
        problems.append(f"status {row.get('status')!r} outcome {row.get('outcome')!r}")
    if row.get("pricing") != "unpriced" or row.get("cost_usd") is not None:
        problems.append(f"pricing {row.get('pricing')!r} cost {row.get('cost_usd')!r}, expected unpriced, NULL")
    if not row.get("input_tokens"):
        problems.append(f"input_tokens {row.get('input_tokens')!r}")
    if problems:
        raise StepFailed("ledger row: " + "; ".join(problems))
    return describe(row) + " (cost unknown, not $0; tokens still counted)"
