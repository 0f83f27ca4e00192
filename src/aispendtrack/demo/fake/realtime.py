"""The fake provider's OpenAI Realtime endpoint: `GET /v1/realtime?model=…` upgraded to a
WebSocket (wsproto, which mitmproxy itself uses), speaking the documented server events.

`session.created` on connect; `session.update` → `session.updated`; a client
`response.create` → `response.created`, text deltas, `response.done` with `usage`; an
`input_audio_buffer.commit` → `input_audio_buffer.committed` and a response the server
starts by itself (as with voice-activity detection). Every client event is recorded
(`FakeProvider.realtime_events`), so a test sees what reached the provider.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage

from aispendtrack.demo.fake.wire_core import UsageSpec

_ids = itertools.count(1)


def usage(spec: UsageSpec) -> dict[str, Any]:
    """A response's `usage` as the Realtime API reports it: input split into text and audio,
    the cached part too; output likewise (audio answers are most of the tokens)."""
    text_in = spec.input // 6
    cached_text = spec.cache_read // 4
    text_out = spec.output // 5
    return {
        "total_tokens": spec.input + spec.output,
        "input_tokens": spec.input,
        "output_tokens": spec.output,
        "input_token_details": {
            "text_tokens": text_in, "audio_tokens": spec.input - text_in, "image_tokens": 0,
            "cached_tokens": spec.cache_read,
            "cached_tokens_details": {"text_tokens": cached_text, "audio_tokens": spec.cache_read - cached_text,
                                      "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": spec.output - text_out},
    }


def is_upgrade(target: str, headers: dict[str, str]) -> bool:
    return headers.get("upgrade", "").lower() == "websocket" and target.split("?", 1)[0].rstrip("/").endswith("/realtime")


async def serve(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, model: str,
                spec: UsageSpec, record: list, delay: float = 0.0) -> None:
    ws = WSConnection(ConnectionType.SERVER)
    ws.receive_data(head)

    def send(event: dict) -> None:
        event.setdefault("event_id", f"event_{next(_ids)}")
        writer.write(ws.send(TextMessage(data=json.dumps(event))))

    async def respond(by_server: bool) -> None:
        rid = f"resp_{next(_ids)}"
        response = {"object": "realtime.response", "id": rid, "status": "in_progress", "output": [], "usage": None}
        send({"type": "response.created", "response": response})
        for piece in ("Fake ", "realtime ", "reply"):
            await asyncio.sleep(delay)
            send({"type": "response.output_text.delta", "response_id": rid, "item_id": f"item_{rid}",
                  "output_index": 0, "content_index": 0, "delta": piece})
            await writer.drain()
        done = {**response, "status": "completed", "usage": usage(spec),
                "metadata": {"started_by": "server" if by_server else "client"}}
        send({"type": "response.done", "response": done})

    text: list[str] = []
    while True:
        for event in ws.events():
            if isinstance(event, Request):
                writer.write(ws.send(AcceptConnection()))
                send({"type": "session.created", "session": {"id": f"sess_{next(_ids)}", "object": "realtime.session",
                                                              "model": model}})
            elif isinstance(event, Ping):
                writer.write(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                writer.write(ws.send(event.response()))
                await writer.drain()
                return
            elif isinstance(event, TextMessage):
                text.append(event.data)
                if not event.message_finished:
                    continue
                body = json.loads("".join(text))
                text.clear()
                record.append(body)
                kind = body.get("type")
                if kind == "session.update":
                    send({"type": "session.updated", "session": {**body.get("session", {}), "model": model}})
                elif kind == "response.create":
                    await respond(by_server=False)
                elif kind == "input_audio_buffer.commit":
                    send({"type": "input_audio_buffer.committed", "item_id": f"item_{next(_ids)}"})
                    await respond(by_server=True)
        await writer.drain()
        data = await reader.read(65536)
        ws.receive_data(data or None)
        if not data:
            return
