"""One error shape for every answer that is not a success: `{"error": {"type", "message", …}}`."""

from __future__ import annotations

import logging

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from aispendtrack.store.db import storage_problem
from aispendtrack.store.health import advice
from aispendtrack.store.records import StoreGone, StoreUnavailable

log = logging.getLogger(__name__)
RETRY_AFTER = "5"
LOST = ("AiSpendTrack's database file was replaced or removed while serve ran; it answers 503 until it is "
        "restarted")


def fail(status: int, type_: str, message: str, **extra) -> HTTPException:
    return HTTPException(status, detail={"type": type_, "message": message, **extra})


def error_response(exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, dict) else {"type": _TYPES.get(exc.status_code, "error"),
                                                              "message": str(exc.detail)}
    return JSONResponse({"error": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return error_response(exc)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Field and problem only: pydantic's error also carries the input, which may be a key.
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
    message = f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid request")
    return JSONResponse({"error": {"type": "invalid_request", "message": message}}, status_code=422)


def storage_response(exc: BaseException) -> JSONResponse | None:
    """503 `storage_unavailable` when `exc` says the database cannot be used (disk full,
    read-only, busy, server unreachable, …); None for any other error."""
    if isinstance(exc, StoreGone):  # until serve restarts (store/health.py, logged once there): no retry-after
        return JSONResponse({"error": {"type": "storage_unavailable", "message": LOST}}, status_code=503)
    problem = str(exc) if isinstance(exc, StoreUnavailable) else storage_problem(exc)
    if problem is None:
        return None
    log.warning("aispendtrack serve: database unusable (%s: %s): answering 503; %s", problem, exc, advice(str(exc)))
    return JSONResponse(
        {"error": {"type": "storage_unavailable",
                   "message": f"AiSpendTrack cannot use its database right now ({problem}); try again later"}},
        status_code=503, headers={"retry-after": RETRY_AFTER},
    )  # fmt: skip


async def storage_error(request: Request, exc: Exception) -> JSONResponse:
    response = storage_response(exc)
    if response is None:
        raise exc  # a bug, not the storage: the 500 and its traceback in the log
    return response


_TYPES = {404: "not_found", 405: "method_not_allowed"}
