"""The one place where rag-fed errors become HTTP responses, for every app under api/.

Body: ``{"error": {"type": "<class name>", "message": "..."}}``. The status is found by walking the
error's class hierarchy, so a new subclass gets its parent's status until it is given its own.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from rag_fed.errors import (
    AuthError,
    BusyError,
    DocumentTooLargeError,
    EnvelopeError,
    ForbiddenError,
    InputError,
    NotFoundError,
    RagFedError,
    ReplayedEnvelopeError,
    SiteBusyError,
    SiteUnavailableError,
    WrongRecipientError,
)

__all__ = [
    "BUSY_RESPONSE",
    "ErrorBody",
    "ErrorDetail",
    "document_errors",
    "error_response",
    "install_error_handlers",
    "status_for",
]

_log = logging.getLogger(__name__)

_STATUS: dict[type[RagFedError], int] = {
    InputError: 400,
    DocumentTooLargeError: 413,
    AuthError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    EnvelopeError: 401,
    ReplayedEnvelopeError: 409,
    # 421 Misdirected Request: the envelope was meant for another site; resending it here cannot help.
    WrongRecipientError: 421,
    SiteUnavailableError: 503,
    BusyError: 429,
    SiteBusyError: 429,  # before its parent SiteUnavailableError's 503
}


BUSY_RESPONSE: dict[str, Any] = {
    "description": "Busy: the caller or the gateway has as many answers in progress as it admits.",
    "headers": {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}},
}
"""OpenAPI ``responses`` entry of a route that may answer 429 (``BusyError``); its body is an ``ErrorBody``."""


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    """The JSON body of every error response."""

    error: ErrorDetail


def status_for(error: RagFedError) -> int:
    """The HTTP status of ``error``: its own class's, or the nearest ancestor's, else 500."""
    for cls in type(error).__mro__:
        status = _STATUS.get(cls)  # type: ignore[call-overload]
        if status is not None:
            return status
    return 500


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(type=kind, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def _rag_fed_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RagFedError)
    status = status_for(error)
    kind = type(error).__name__
    if status >= 500:
        _log.error("%s %s failed: %s: %s", request.method, request.url.path, kind, error)
    elif isinstance(error, AuthError | EnvelopeError):
        # Rejected credentials and envelopes are security events: keep a trace of who tried what.
        client = request.client.host if request.client else "?"
        _log.warning("%s %s from %s rejected: %s: %s", request.method, request.url.path, client, kind, error)
    # A missing or unknown API key asks for one (RFC 9110); an envelope is not a bearer credential.
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 and isinstance(error, AuthError) else None
    if isinstance(error, BusyError):
        headers = {"Retry-After": str(error.retry_after_s)}
    return error_response(status, kind, str(error), headers)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = "; ".join(
        f"{'.'.join(str(part) for part in issue.get('loc', ()))}: {issue.get('msg', '')}"
        for issue in error.errors()[:5]
    )
    return error_response(400, "InputError", f"invalid request: {details}")


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    kind = "NotFoundError" if error.status_code == 404 else "HTTPError"
    headers = dict(error.headers or {})
    if error.status_code == 405:  # RFC 9110: say which methods the path allows (Starlette names one route's only)
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_response(error.status_code, kind, str(error.detail), headers or None)


def _allowed_methods(request: Request) -> list[str]:
    """Each method for which some route matches the path in full (routers included in others answer too)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    _log.exception("%s %s crashed", request.method, request.url.path, exc_info=error)
    return error_response(500, "InternalError", "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the same JSON shape, and say so in the OpenAPI document."""
    app.add_exception_handler(RagFedError, _rag_fed_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    document_errors(app)


_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_WHY = {
    400: "Invalid request (InputError): a parameter or body that does not validate",
    401: "Missing, invalid or revoked API key (AuthError)",
    403: "The key's role may not call this operation (ForbiddenError)",
    404: "Not found (NotFoundError)",
}


def document_errors(app: FastAPI) -> None:
    """FastAPI documents a 422 for validation errors, which ``_validation_error`` answers with 400; replace it
    with the 400 really sent, and add 401/403 to operations behind a key and 404 to those with path parameters."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(body.pop("$defs", {}))
        schemas.setdefault("ErrorBody", body)
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                wanted = [400] if responses.pop("422", None) is not None else []
                wanted += [401, 403] if operation.get("security") else []
                wanted += [404] if "{" in path else []
                for status in wanted:
                    responses.setdefault(
                        str(status),
                        {"description": _WHY[status], "content": {"application/json": {"schema": _ERROR_REF}}},
                    )
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
