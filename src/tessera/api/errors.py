"""Errors mapped to HTTP in one place: every failure is ``{"error": {"code", "message"}}``.

Tessera's errors (``tessera.errors``) map by class: bad input is 422 (413 when over a size
limit), missing or invalid tokens 401, a lacking scope or tier 403, unknown or hidden banks and
entries 404, conflicts 409, an unavailable store 503. Request validation errors (wrong types,
missing fields, bad JSON) are 422 with each problem's location, and the framework's own errors
(unknown path, wrong method, unparsable body) keep their status. Nothing malformed becomes a 5xx.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from tessera import errors

log = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of decides.
_STATUS: list[tuple[type[errors.TesseraError], int, str | None]] = [
    (errors.Unauthenticated, 401, "unauthenticated"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.FetchDisabled, 403, "fetch_disabled"),
    (errors.MediaLimitExceeded, 413, "too_large"),
    (errors.FetchLimitExceeded, 422, "fetch_limit_exceeded"),
    (errors.InputError, 422, None),
    (errors.NotFound, 404, "not_found"),
    (errors.Conflict, 409, "conflict"),
    (errors.StoreError, 503, "store_unavailable"),
]
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
}


class ErrorDetail(BaseModel):
    """What went wrong: a stable code and a message for people."""

    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in [
        (400, "Unparsable request body"),
        (401, "No valid token"),
        (403, "The token's scope or the organisation's tier does not allow this"),
        (404, "Not found (or not visible to the calling organisation)"),
        (409, "Conflicts with the current state"),
        (413, "Request body over max_upload_bytes"),
        (422, "Malformed request"),
    ]
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """A JSON error response."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message, details=details))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def status_of(error: errors.TesseraError) -> tuple[int, str]:
    """The HTTP status and error code for one of Tessera's errors."""
    for cls, status, code in _STATUS:
        if isinstance(error, cls):
            return status, code or _snake(type(error).__name__)
    return 500, "internal"


async def _tessera_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.TesseraError)
    status, code = status_of(exc)
    return error_response(status, code, str(exc))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", ""))}
        for e in exc.errors()[:20]
    ]
    summary = "; ".join(f"{'.'.join(d['loc'])}: {d['message']}" for d in details[:3])
    return error_response(422, "invalid_request", summary or "invalid request", details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_response(exc.status_code, code, message)


async def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, sqlalchemy.exc.IntegrityError):
        return error_response(409, "conflict", "conflicts with a concurrent change; retry")
    log.warning("database error: %s", str(exc).splitlines()[0])
    return error_response(503, "store_unavailable", "the store is busy or unavailable; retry")


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    return error_response(500, "internal", "internal error")


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a JSON body."""
    app.add_exception_handler(errors.TesseraError, _tessera_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sqlalchemy.exc.SQLAlchemyError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
