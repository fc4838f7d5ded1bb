"""One table that turns errors into JSON problem details (RFC 9457), registered in a loop.

TwinError subclasses carry their HTTP status and OGC exception code as class attributes; framework errors
(unknown route, wrong method, invalid request) get the same shape so every error a client sees looks alike.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from twin.errors import (
    AuthError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    PreconditionFailedError,
    PublishError,
    TwinError,
)

log = logging.getLogger("twin.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"

# Most specific first only for readability: Starlette picks the handler by walking the exception's MRO.
ERROR_TABLE: tuple[type[TwinError], ...] = (
    PreconditionFailedError,
    ConflictError,
    NotFoundError,
    ForbiddenError,
    AuthError,
    InputError,
    ConfigError,
    PublishError,
    TwinError,
)


def problem(status: int, detail: str, code: str | None = None, **extra: Any) -> JSONResponse:
    """A problem-details response: title from the HTTP status, detail a sentence for people."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if code:
        body["code"] = code
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer realm="twin"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def _twin_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TwinError)
    status = exc.status_code
    if status >= 500:
        # 5xx are our fault: log once with the traceback; 4xx are routine and stay out of the error log.
        log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    return problem(status, exc.message, exc.ogc_code)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    return problem(
        422,
        f"{where}: {first['msg']}" if where else str(first["msg"]),
        "InvalidParameterValue",
        errors=errors,
    )


def register_error_handlers(app: FastAPI) -> None:
    """Install the problem-details handlers for TwinError subclasses and the framework's own errors."""
    for error_class in ERROR_TABLE:
        app.add_exception_handler(error_class, _twin_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
