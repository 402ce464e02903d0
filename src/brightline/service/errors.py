"""Every failure as JSON ``{"error": {"code", "message"}}`` with the status its error class names."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from brightline.errors import AuthenticationError, BrightlineError, RateLimitedError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_content_type",
    422: "invalid_request",
}
_DETAILS_SHOWN = 20


def error_payload(code: str, message: str, **extra: object) -> dict[str, object]:
    """The one error body shape of the API."""
    return {"error": {"code": code, "message": message, **extra}}


def brightline_error_response(exc: BrightlineError) -> JSONResponse:
    """A BrightlineError as JSON with its own status and the headers HTTP asks for."""
    headers: dict[str, str] = {}
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return JSONResponse(error_payload(exc.code, exc.message), status_code=exc.http_status, headers=headers)


async def _on_brightline_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BrightlineError)
    if exc.http_status >= 500:
        log.error("request failed: %s", exc, exc_info=exc)
    return brightline_error_response(exc)


def _location(loc: tuple[object, ...] | list[object]) -> str:
    return ".".join(str(part) for part in loc)


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only loc/msg/type: "input" may be bytes or huge, and "ctx" may hold exception objects.
    details = [
        {"loc": _location(e.get("loc", ())), "message": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()[:_DETAILS_SHOWN]
    ]
    summary = "; ".join(f"{d['loc']}: {d['message']}" for d in details[:3]) or "the request is not valid"
    return JSONResponse(error_payload("invalid_request", summary, details=details), status_code=422)


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_payload(code, str(exc.detail)), status_code=exc.status_code, headers=dict(exc.headers or {})
    )


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    # A bug, not bad input: log it whole, tell the client nothing about internals.
    log.error("unhandled error", exc_info=exc)
    return JSONResponse(error_payload("internal_error", "internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the same JSON shape."""
    app.add_exception_handler(BrightlineError, _on_brightline_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
