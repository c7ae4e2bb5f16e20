"""The one place where rag-fed errors become HTTP responses, for every app under api/.

Body: ``{"error": {"type": "<class name>", "message": "..."}}``. The status is found by walking the
error's class hierarchy, so a new subclass gets its parent's status until it is given its own.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag_fed.errors import (
    AuthError,
    DocumentTooLargeError,
    EnvelopeError,
    ForbiddenError,
    InputError,
    NotFoundError,
    RagFedError,
    ReplayedEnvelopeError,
    SiteUnavailableError,
    WrongRecipientError,
)

__all__ = ["ErrorBody", "ErrorDetail", "error_response", "install_error_handlers", "status_for"]

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
}


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
    challenge = {"WWW-Authenticate": "Bearer"} if status == 401 and isinstance(error, AuthError) else None
    return error_response(status, kind, str(error), challenge)


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
    return error_response(error.status_code, kind, str(error.detail))


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    _log.exception("%s %s crashed", request.method, request.url.path, exc_info=error)
    return error_response(500, "InternalError", "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the same JSON shape."""
    app.add_exception_handler(RagFedError, _rag_fed_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
