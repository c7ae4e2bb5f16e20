"""The FastAPI app of one site: sealed queries, sketches and model controls for the gateway, health, and
the admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api.docs_pages import install_local_docs
from api.errors import ErrorBody, error_response, install_error_handlers
from api.observability import MetricsServer
from api.site_service.admin import Responder, admin_router
from api.site_service.admin_feedback import admin_feedback_router
from api.site_service.admin_search import admin_search_router
from api.site_service.audit import ADMIN_AUDIT_FILE, AuditAdminCalls, SiteAuditLog, admin_audit_router
from api.site_service.metrics import install_site_metrics
from api.site_service.responder import ServiceResponder
from api.site_service.status import status_router
from api.web import install_pages
from rag_fed.admin_keys import ADMIN_KEYS_PATH
from rag_fed.crypto import SealedEnvelope
from rag_fed.crypto.envelope import MAX_ENVELOPE_BYTES
from rag_fed.errors import DocumentTooLargeError
from rag_fed.feedback.messages import FEEDBACK_PATH, SiteFeedback
from rag_fed.wire.paths import MODEL_PATH, QUERY_PATH, SKETCH_PATH, TERM_STATS_PATH

__all__ = ["create_site_app", "read_body"]

_ENVELOPE_SCHEMA: dict[str, Any] = {
    "content": {"application/json": {"schema": SealedEnvelope.model_json_schema()}},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 409, 413, 421, 429, 500)
}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes (before it is all read)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise DocumentTooLargeError(f"request body of {declared} bytes exceeds the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise DocumentTooLargeError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class RefuseLargeUploads:
    """Refuses an admin upload whose declared length is over the limit, before its multipart body is parsed
    (that happens before any route code runs). Plain ASGI: an ``@app.middleware("http")`` costs about a
    millisecond on every request, queries included."""

    def __init__(self, app: ASGIApp, max_upload_bytes: int) -> None:
        self._app, self._max = app, max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith("/v1/admin/"):
            declared = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
            if declared.isdigit() and int(declared) > self._max + 64 * 1024:  # room for the multipart framing
                message = f"upload of {declared} bytes exceeds the limit of {self._max}"
                await error_response(413, DocumentTooLargeError.__name__, message)(scope, receive, send)
                return
        await self._app(scope, receive, send)


def create_site_app(responder: ServiceResponder, *, close_site: bool = True) -> FastAPI:
    """The app serving ``responder``'s site. ``close_site``: close the site's store on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bind = responder.settings.metrics_bind
        metrics_server = MetricsServer(metrics.registry, bind) if bind else None
        if metrics_server is not None:
            metrics_server.start()
        yield
        if metrics_server is not None:
            metrics_server.stop()
        if close_site:
            responder.site.close()

    app = FastAPI(
        title=f"rag-fed site {responder.site.site_id}",
        summary="Answers sealed queries from the gateway; admin API for this site's documents.",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_local_docs(app)  # Swagger UI and ReDoc served by the app itself: no CDN on a plant network
    app.state.responder = responder
    install_error_handlers(app)
    app.include_router(admin_router)
    app.include_router(admin_search_router)
    app.include_router(admin_feedback_router)
    app.include_router(admin_audit_router)
    app.include_router(status_router)  # /health (open) and /v1/admin/status
    install_pages(app, {"/admin": "admin"})  # the site admin's page over the admin API

    app.add_middleware(RefuseLargeUploads, max_upload_bytes=responder.settings.max_upload_bytes)
    metrics = install_site_metrics(app, responder)  # refused uploads are counted too
    app.state.admin_audit = SiteAuditLog(responder.site.layout.root / ADMIN_AUDIT_FILE)
    app.add_middleware(AuditAdminCalls, log=app.state.admin_audit)  # outermost: sees the 413s above too

    @app.post(
        QUERY_PATH,
        tags=["federation"],
        response_class=Response,
        responses={200: _ENVELOPE_SCHEMA, **_ERRORS},
        openapi_extra={"requestBody": {"required": True, **_ENVELOPE_SCHEMA}},
    )
    async def site_query(request: Request, responder: Responder) -> Response:
        """A ``SiteQuery`` sealed to this site by the gateway; the answer is a ``SiteReply`` sealed back."""
        sealed = await read_body(request, MAX_ENVELOPE_BYTES)
        with metrics.counting_rejections():
            reply = await run_in_threadpool(responder.handle, sealed)
        return Response(reply, media_type="application/json")

    @app.post(
        MODEL_PATH,
        tags=["federation"],
        response_class=Response,
        responses={200: _ENVELOPE_SCHEMA, **_ERRORS},
        openapi_extra={"requestBody": {"required": True, **_ENVELOPE_SCHEMA}},
    )
    async def site_model(request: Request, responder: Responder) -> Response:
        """A ``ModelControl`` sealed to this site by the gateway (rollout, rollback, status); the answer is
        a ``ModelControlReply`` sealed back. A rollout loads the model, then re-embeds in the background."""
        sealed = await read_body(request, MAX_ENVELOPE_BYTES)
        with metrics.counting_rejections():
            reply = await run_in_threadpool(responder.handle_control, sealed)
        return Response(reply, media_type="application/json")

    @app.post(
        ADMIN_KEYS_PATH,
        tags=["federation"],
        response_class=Response,
        responses={200: _ENVELOPE_SCHEMA, **_ERRORS},
        openapi_extra={"requestBody": {"required": True, **_ENVELOPE_SCHEMA}},
    )
    async def site_admin_keys(request: Request, responder: Responder) -> Response:
        """An ``AdminKeyList`` sealed to this site by the gateway: every active admin key it issued for this
        site (docs/security.md); the answer is an ``AdminKeyListAck`` sealed back."""
        sealed = await read_body(request, MAX_ENVELOPE_BYTES)
        ack = await run_in_threadpool(responder.handle_admin_keys, sealed)
        return Response(ack, media_type="application/json")

    @app.post(
        FEEDBACK_PATH,
        tags=["federation"],
        response_class=Response,
        responses={200: _ENVELOPE_SCHEMA, **_ERRORS},
        openapi_extra={"requestBody": {"required": True, **_ENVELOPE_SCHEMA}},
    )
    async def site_feedback(request: Request, responder: Responder) -> Response:
        """A ``SiteFeedback`` sealed to this site: an engineer's judgement on one of its passages, kept in
        the site's feedback log for fine-tuning (docs/training.md); a ``SiteFeedbackAck`` sealed back."""
        sealed = await read_body(request, MAX_ENVELOPE_BYTES)

        def receive() -> bytes:
            message = responder.open_message(sealed, SiteFeedback)
            return responder.seal_message(responder.feedback.receive(message))

        with metrics.counting_rejections():
            ack = await run_in_threadpool(receive)
        return Response(ack, media_type="application/json")

    @app.get(SKETCH_PATH, tags=["federation"], response_class=Response, responses={200: _ENVELOPE_SCHEMA})
    async def site_sketch(responder: Responder) -> Response:
        """Centroids of this site's vectors (no text), sealed to the gateway."""
        sealed = await run_in_threadpool(responder.sketch)
        return Response(sealed, media_type="application/json")

    @app.post(
        TERM_STATS_PATH,
        tags=["federation"],
        response_class=Response,
        responses={200: _ENVELOPE_SCHEMA, **_ERRORS},
        openapi_extra={"requestBody": {"required": True, **_ENVELOPE_SCHEMA}},
    )
    async def site_term_stats(request: Request, responder: Responder) -> Response:
        """A ``TermStatsRequest`` sealed to this site (it carries the federation's term key); the answer is the
        site's ``TermStatsPublication`` sealed back: its counts keyed by hashed terms (docs/term-statistics.md)."""
        sealed = await read_body(request, MAX_ENVELOPE_BYTES)
        with metrics.counting_rejections():
            publication = await run_in_threadpool(responder.handle_term_stats, sealed)
        return Response(publication, media_type="application/json")

    return app
