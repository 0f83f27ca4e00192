"""One error shape for every answer that is not a success: `{"error": {"type", "message", …}}`."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def fail(status: int, type_: str, message: str, **extra) -> HTTPException:
    return HTTPException(status, detail={"type": type_, "message": message, **extra})


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, dict) else {"type": _TYPES.get(exc.status_code, "error"),
                                                              "message": str(exc.detail)}
    return JSONResponse({"error": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Field and problem only: pydantic's error also carries the input, which may be a key.
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
    message = f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid request")
    return JSONResponse({"error": {"type": "invalid_request", "message": message}}, status_code=422)


_TYPES = {404: "not_found", 405: "method_not_allowed"}
