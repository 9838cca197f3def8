"""One JSON error shape, `{"error": {"code", "message", "field"?}}`, for every failure."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from order_engine.api.jsonresp import JsonResponse
from order_engine.domain.errors import (
    CapacityError,
    ChainUnavailableError,
    ConflictError,
    DependencyUnavailableError,
    EngineError,
    ForbiddenError,
    NotFoundError,
    PermanentExecutionError,
    RequestError,
    TransientExecutionError,
    UnauthenticatedError,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[EngineError], int], ...] = (
    (RequestError, 422),
    (UnauthenticatedError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (CapacityError, 429),
    (DependencyUnavailableError, 503),
    (ChainUnavailableError, 503),
    (TransientExecutionError, 503),  # e.g. no venue quoted now: try again
    (PermanentExecutionError, 422),  # e.g. no pool trades the pair; the chain refused
)


class HttpError(Exception):
    """An error raised by the API layer itself (bad framing rather than bad content)."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def status_for(exc: EngineError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 500


def error_response(exc: EngineError | HttpError) -> JsonResponse:
    """The JSON error answer for an engine or API error (never leaks internals)."""
    if isinstance(exc, HttpError):
        return JsonResponse(error_body(exc.code, exc.message, exc.field), status_code=exc.status)
    status = status_for(exc)
    if status == 500:
        log.error("unmapped engine error: %r", exc)
        return JsonResponse(error_body("internal_error", "internal error"), status_code=500)
    headers = {}
    if isinstance(exc, CapacityError):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, UnauthenticatedError):
        headers["WWW-Authenticate"] = 'Bearer realm="order-engine"'
    return JsonResponse(
        error_body(exc.code, exc.message, exc.field), status_code=status, headers=headers
    )


def _engine_error(_: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, EngineError | HttpError)
    return error_response(exc)


def _starlette_http(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    target = f"{request.method} {request.url.path[:200]}"
    message = {
        404: f"nothing is served at {target}",
        405: f"{target}: the method is not allowed on this path",
    }.get(exc.status_code, str(exc.detail))
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:  # every method of the path, not only the first route's
        headers = {**(headers or {}), "Allow": _allowed(request)}
    return JsonResponse(error_body(code, message), status_code=exc.status_code, headers=headers)


def _allowed(request: Request) -> str:
    methods: set[str] = set()
    for route in request.app.router.routes:
        pattern = getattr(route, "path_regex", None)
        if pattern is not None and pattern.match(request.url.path):
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def _unexpected(_: Request, exc: Exception) -> JsonResponse:
    log.exception("unhandled error", exc_info=exc)
    return JsonResponse(error_body("internal_error", "internal error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(EngineError, _engine_error)
    app.add_exception_handler(HttpError, _engine_error)
    app.add_exception_handler(StarletteHTTPException, _starlette_http)
    app.add_exception_handler(Exception, _unexpected)
