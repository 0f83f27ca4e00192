"""Request bodies, before the application reads them (an ASGI middleware).

- Over `[serve] max_body_bytes`: 413 at once when `Content-Length` says so; a chunked body
  is counted as it arrives and refused once it passes the limit. Either way nothing is
  parsed, and at most the limit is held in memory.
- Under `/v1/`: the key is checked before the body is read (FastAPI reads a route's body
  before its dependencies run), so a request without a good key is answered 401 whatever
  it carries.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aispendtrack.serve import deps, errors

API = "/v1/"


class BodyGuard:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        length, chunked = headers.get("content-length", "0"), "transfer-encoding" in headers
        if not length.isdigit():  # uvicorn refuses these itself; another server might not
            return await _answer(400, "invalid_request", "Content-Length is not a number")(scope, receive, send)
        if int(length) > self.max_bytes:
            return await self._too_large()(scope, receive, send)
        if (chunked or int(length) > 0) and scope["path"].startswith(API):
            refused = await run_in_threadpool(_key_refusal, scope)
            if refused is not None:
                refused.headers["connection"] = "close"  # the body stays unread
                return await refused(scope, receive, send)
        if chunked:
            body = await _read(receive, self.max_bytes)
            if body is _GONE:
                return
            if body is None:
                return await self._too_large()(scope, receive, send)
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    def _too_large(self) -> Response:
        return _answer(413, "request_too_large", f"request body larger than {self.max_bytes} bytes "
                       "([serve] max_body_bytes)")


def _answer(status: int, type_: str, message: str) -> Response:
    """An error answered without reading the body: the connection closes after it."""
    return JSONResponse({"error": {"type": type_, "message": message}}, status_code=status,
                        headers={"connection": "close"})


def _key_refusal(scope: Scope) -> Response | None:
    """The answer to a request whose key is missing or bad (None: the key is good)."""
    request = Request(scope)
    state = scope["app"].state
    try:
        with deps.opened(state) as db:
            deps.authenticate(request, db, state.config)
    except HTTPException as e:
        return errors.error_response(e)
    except Exception as e:
        response = errors.storage_response(e)
        if response is None:
            raise
        return response
    return None


_GONE = b"(the client went away)"


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, None as soon as it passes `limit` bytes, `_GONE` when the client left."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return _GONE
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for the app: the body read already, then the server's own (disconnects)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
