"""A local fake LLM provider speaking real wire formats (OpenAI, Anthropic, Gemini, Ollama, Azure, Vertex, Bedrock).

For end-to-end tests, ``aispendtrack demo`` and ``scripts/bench``. Standard library only:
an asyncio HTTP/1.1 server (keep-alive, chunked streams, optional gzip and TLS) running
in a background thread with its own event loop. Wire formats live in ``wire.py``; the
recorded requests and scripted faults in ``script.py``; ``python -m aispendtrack.demo.fake``
runs it from the command line (``__main__.py``).

    with FakeProvider(stream_delay=0.01).start() as fake:
        client = openai.OpenAI(base_url=fake.url + "/v1", api_key="x")

Per-request knobs (request headers): ``x-fake-flavor: groq|openrouter|deepseek`` (Ollama: ``old|cached``),
``x-fake-usage-with-choices: 1``, ``x-fake-chunks: N``, ``x-fake-stream-delay: S``, ``x-fake-model: NAME`` (Azure),
``x-fake-fault: 500|429|reset[:N]|hang[:N]|slow:S`` (same as one queued :class:`Fault`).
Served calls are billed; the OpenAI and Anthropic admin usage and cost APIs answer from them (billing.py).
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip as gziplib
import itertools
import json
import logging
import socket
import ssl
import threading
import time
import uuid
import zlib
from http import HTTPStatus
from urllib.parse import parse_qs

from aispendtrack.demo.fake import admin, realtime
from aispendtrack.demo.fake.billing import Billing
from aispendtrack.demo.fake.script import Fault, ReceivedRequest
from aispendtrack.demo.fake.wire_bedrock import refusal as bedrock_refusal
from aispendtrack.demo.fake.wire_batches import FakeBatches
from aispendtrack.demo.fake.wire import Call, Reply, UsageSpec, build, error_body, json_reply, prompt_text, route, split_text

log = logging.getLogger(__name__)
__all__ = ["FakeProvider", "Fault", "ReceivedRequest", "UsageSpec"]


class _Close(Exception):
    """Stop serving this connection."""


class FakeProvider:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, tls: bool = False, certfile=None,
                 keyfile=None, stream_delay: float = 0.0, chunks: int = 4, reply_text: str | None = None,
                 model_override: str | None = None, usage: UsageSpec | None = None, gzip: bool = False):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("FakeProvider binds to loopback only")
        if tls and not certfile:
            raise ValueError("tls=True needs certfile (and keyfile unless the certfile holds the key)")
        self.host, self.port, self.tls = host, port, tls
        self.certfile, self.keyfile = certfile, keyfile
        self.stream_delay = stream_delay
        self.chunks = chunks  # text deltas per stream
        self.reply_text = reply_text  # None: "Fake reply to: <prompt>"
        self.model_override = model_override
        self.usage = usage or UsageSpec()
        self.gzip = gzip
        self.record = True  # False: keep no ReceivedRequest (long bench runs)
        self.fail_next: list[Fault] = []
        self.received: list[ReceivedRequest] = []
        self.realtime_events: list[dict] = []  # every client event of every Realtime session
        self.billing = Billing()  # the calls served, for the admin usage and cost APIs (billing.py)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.batches = FakeBatches(self)  # uploaded files and batches (wire_batches.py)

    # ------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> FakeProvider:
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except BaseException as e:  # report bind errors to start()
                error.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._close())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"fakeprovider-{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if error:
            raise error[0]
        return self

    def stop(self) -> None:
        if self._thread and self._loop and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeProvider:
        return self if self._thread else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.fail_next.clear()

    def fail(self, *faults: Fault) -> None:
        with self._lock:
            self.fail_next.extend(faults)

    async def _open(self) -> None:
        ctx = None
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.certfile, self.keyfile)
            ctx.set_alpn_protocols(["http/1.1"])
        self._server = await asyncio.start_server(self._conn, self.host, self.port, ssl=ctx,
                                                  limit=1 << 20, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server:
            await asyncio.wait_for(self._server.wait_closed(), 5)

    # ------------------------------------------------------------ HTTP/1.1
    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while await self._one(reader, writer):
                pass
        except (_Close, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
            pass
        except asyncio.CancelledError:  # stop(); swallowed: asyncio 3.12.1 logs cancelled stream handlers
            pass
        except Exception:  # a bug or a bad knob must not kill the server
            log.exception("fake provider: request handling failed")
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
            headers = [(k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)]
        except ValueError:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        h = {k.lower(): v for k, v in headers}
        if realtime.is_upgrade(target, h):
            if self.record:
                with self._lock:
                    self.received.append(ReceivedRequest(method, target, headers, b"", time.time(), "", ()))
            model = parse_qs(target.partition("?")[2]).get("model", ["gpt-realtime"])[0]
            await realtime.serve(head, reader, writer, model=model, spec=self.usage, record=self.realtime_events,
                                 delay=self.stream_delay)
            return False
        if h.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in h.get("transfer-encoding", "").lower():
            body = b""
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")  # no trailers expected
        else:
            body = await reader.readexactly(int(h.get("content-length") or 0))
        conn = h.get("connection", "").lower()
        keep = "close" not in conn and (version != "HTTP/1.0" or "keep-alive" in conn)
        peer = tuple(writer.get_extra_info("peername") or ())[:2]
        rid = f"fake-{next(self._ids):06d}-{uuid.uuid4().hex[:12]}"
        if self.record:
            with self._lock:
                self.received.append(ReceivedRequest(method, target, headers, body, time.time(), rid, peer))
        await self._respond(method, target, h, body, rid, keep, writer, reader)
        return keep

    def _next_fault(self, h: dict[str, str]) -> Fault | None:
        if "x-fake-fault" in h:
            return Fault.parse(h["x-fake-fault"])
        with self._lock:
            return self.fail_next.pop(0) if self.fail_next else None

    async def _respond(self, method: str, target: str, h: dict[str, str], body: bytes, rid: str, keep: bool,
                       writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        provider, api, path_model = route(method, target, h)
        try:  # a Bedrock request AWS would refuse (unsigned, or changed on the way) is refused first
            fault = (bedrock_refusal(method, target, h, body) if provider == "aws" else None) or self._next_fault(h)
        except ValueError:
            fault = Fault.error(400, error_body(provider, 400, f"Bad x-fake-fault: {h['x-fake-fault']}"))
        if fault and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        try:
            req = json.loads(body) if body.strip() else {}
            if not isinstance(req, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as e:
            req, api, err = {}, "", (400, f"Invalid JSON body: {e}")
        else:
            err = (404, f"Unknown endpoint {method} {target.split('?')[0]}") if not api else None
        if fault and fault.kind == "status":
            reply = Reply(fault.status, body=fault.body_bytes(error_body(provider, fault.status)), headers=list(fault.headers))
        elif (batch := self.batches.handle(method, target, h, body)) is not None:
            reply = batch
        elif (answered := admin.answer(self.billing, method, target, h, req)) is not None:
            reply = answered
        elif err:
            reply = json_reply(error_body(provider, *err), err[0])
        else:
            n = int(h.get("x-fake-chunks") or self.chunks)
            text = self.reply_text or f"Fake reply to: {prompt_text(api, req)[:40]}".rstrip(": ")
            query = target.partition("?")[2]
            stream = (path_model is not None and "streamGenerateContent" in target) or req.get("stream") is True \
                or (api in ("ollama-chat", "ollama-generate") and req.get("stream") is not False)  # Ollama streams by default
            call = Call(provider, api, req, split_text(text, n), self.usage, rid, self.model_override, path_model,
                        stream=stream, sse="alt=sse" in query, flavor=h.get("x-fake-flavor", "").lower(), target=target,
                        usage_with_choices=h.get("x-fake-usage-with-choices", "") in ("1", "true"))
            reply = build(call)
            self.billing.record(call, h, reply, keep=self.record)
        delay = float(h.get("x-fake-stream-delay") or self.stream_delay)
        await self._send(reply, h, rid, keep, fault, delay, writer, reader)

    async def _send(self, reply: Reply, h: dict[str, str], rid: str, keep: bool, fault: Fault | None,
                    delay: float, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        use_gzip = self.gzip and "gzip" in h.get("accept-encoding", "").lower()
        status = reply.status
        hdrs = [("Date", email.utils.formatdate(usegmt=True)), ("Content-Type", reply.content_type),
                ("x-fake-request-id", rid), ("x-request-id", rid), *reply.headers]
        if use_gzip:
            hdrs.append(("Content-Encoding", "gzip"))
        body = reply.body
        if reply.frames is None:
            body = body or b""
            if use_gzip:
                body = gziplib.compress(body, mtime=0)
            hdrs.append(("Content-Length", str(len(body))))
        else:
            hdrs += [("Transfer-Encoding", "chunked"), ("Cache-Control", "no-cache")]
        hdrs.append(("Connection", "keep-alive" if keep else "close"))
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        head = f"HTTP/1.1 {status} {phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
        writer.write(head.encode("latin-1"))
        kind = fault.kind if fault else None
        if reply.frames is None:
            assert body is not None
            if kind in ("reset", "hang"):
                writer.write(body[: len(body) // 2] if kind == "reset" else b"")
                await writer.drain()
                await self._abort(kind, writer, reader)
            writer.write(body)
            await writer.drain()
            return
        comp = zlib.compressobj(6, zlib.DEFLATED, 31) if use_gzip else None
        for i, frame in enumerate(reply.frames):
            if kind in ("reset", "hang") and i >= fault.after:  # type: ignore[union-attr]
                await self._abort(kind, writer, reader)
            if i and delay:
                await asyncio.sleep(delay)
            if comp:
                frame = comp.compress(frame) + comp.flush(zlib.Z_SYNC_FLUSH)
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await writer.drain()
        if kind in ("reset", "hang"):
            await self._abort(kind, writer, reader)
        tail = comp.flush() if comp else b""
        writer.write((b"%x\r\n%s\r\n" % (len(tail), tail) if tail else b"") + b"0\r\n\r\n")
        await writer.drain()

    async def _abort(self, kind: str, writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> None:
        await writer.drain()
        if kind == "hang":  # until the client goes away (or stop() cancels us)
            while await reader.read(65536):
                pass
        raise _Close
