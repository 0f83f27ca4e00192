"""Clients that keep calling a proxy until told to stop, each call asking for its own model
name (`crash-<thread>-<n>-<kind>`: chat, chat-stream, messages, messages-stream), and
naming in `done` every call whose end they saw: the SDK returned, or the stream's terminal
event arrived (when SDKs stop reading). The fake serves the requested model and the ledger
keeps it, so a completed call is looked up by name among the rows."""

from __future__ import annotations

import threading

import anthropic
import httpx2
import openai

from aispendtrack.proxy.auth import HEADER


def stream_until(client: httpx2.Client, path: str, body: dict, marker: bytes) -> bool:
    """Streams `path`; True as soon as `marker` (the terminal event) has arrived."""
    buf = b""
    with client.stream("POST", path, json=body) as r:
        if r.status_code != 200:
            return False
        for chunk in r.iter_raw():
            buf += chunk
            if marker in buf:
                return True
    return False


def burst(proxy, key: str, stop: threading.Event, done: list[str], lock: threading.Lock, tid: int,
          listener: str = "main") -> None:
    url = proxy.url(listener)
    oa = openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=10,
                       default_headers={HEADER: key})
    an = anthropic.Anthropic(base_url=url, api_key="sk-ant", max_retries=0, timeout=10,
                             default_headers={HEADER: key})
    raw = httpx2.Client(base_url=url, headers={HEADER: key}, timeout=10)
    n = 0
    while not stop.is_set():
        kind = ("chat", "chat-stream", "messages", "messages-stream")[n % 4]
        model = f"crash-{tid}-{n}-{kind}"
        n += 1
        msgs = [{"role": "user", "content": model}]
        try:
            if kind == "chat":
                ok = oa.chat.completions.create(model=model, messages=msgs).model == model
            elif kind == "messages":
                ok = an.messages.create(model=model, max_tokens=20, messages=msgs).model == model
            elif kind == "chat-stream":
                ok = stream_until(raw, "/v1/chat/completions", {"model": model, "messages": msgs, "stream": True},
                                  b"data: [DONE]")
            else:
                ok = stream_until(raw, "/v1/messages", {"model": model, "max_tokens": 20, "messages": msgs,
                                                        "stream": True}, b"event: message_stop")
        except Exception:
            ok = False
        if ok:
            with lock:
                done.append(model)
    raw.close()
