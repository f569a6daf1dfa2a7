"""One error shape across the API: FastAPI's `{"detail": ...}`, never a stack trace."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from helpstream.api.ingest import BufferUnavailable
from helpstream.api.routemap import allowed_methods

log = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


_MAX_ECHO = 200


def _echo(value: Any) -> tuple[bool, Any]:
    """Whether to repeat a rejected input in the 422 body, and how: briefly, or not at all.

    A 10,001-event batch or a 1 MB string must not come back whole (nor a 5,000-digit
    number, which could not even be formatted).
    """
    if value is None or isinstance(value, bool):
        return True, value
    if isinstance(value, float):  # NaN and ±Infinity are not JSON
        return math.isfinite(value), value
    if isinstance(value, int):
        return value.bit_length() <= 64, value
    if isinstance(value, str):
        return True, value if len(value) <= _MAX_ECHO else value[:_MAX_ECHO] + "…"
    if isinstance(value, list | dict) and len(value) <= 20:
        try:
            text = json.dumps(value, allow_nan=False, default=str)
        except (ValueError, TypeError, RecursionError):  # NaN, a giant int, deep nesting
            return False, None
        return len(text) <= _MAX_ECHO, value
    return False, None


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        error = dict(error)
        if "input" in error:
            keep, error["input"] = _echo(error["input"])
            if not keep:
                del error["input"]
        errors.append(error)
    return errors


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        """FastAPI's handler; a 405's Allow lists every route at the path, not just one."""
        if exc.status_code == 405:
            methods = allowed_methods(request.app.routes, request.url.path)
            if methods:
                exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(methods))}
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422 body, with long rejected inputs trimmed (see `_echo`)."""
        return JSONResponse({"detail": jsonable_encoder(_validation_errors(exc))}, status_code=422)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        """The client left mid-body: nothing was stored, nobody to answer, no traceback."""
        return JSONResponse({"detail": "client disconnected"}, status_code=400)

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, exc: ServiceUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail},
            status_code=503,
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(BufferUnavailable)
    async def _buffer(request: Request, exc: BufferUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": "event buffer unavailable, retry later"},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)
