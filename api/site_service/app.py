"""The FastAPI app of one site: sealed queries, sketches and model controls for the gateway
(routes_federation.py), health, and the admin API (routes_*.py); the routes' dependencies are in deps.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.docs_pages import install_local_docs
from api.errors import install_error_handlers
from api.observability import MetricsServer
from api.site_service.audit import ADMIN_AUDIT_FILE, AuditAdminCalls, SiteAuditLog
from api.site_service.body_limits import RefuseLargeUploads
from api.site_service.metrics import install_site_metrics
from api.site_service.open_site import ServiceResponder
from api.site_service.routes_audit import audit_router
from api.site_service.routes_documents import documents_router
from api.site_service.routes_federation import federation_router
from api.site_service.routes_feedback import feedback_router
from api.site_service.routes_metrics import metrics_router
from api.site_service.routes_search import search_router
from api.site_service.routes_status import status_router
from api.web import install_pages

__all__ = ["create_site_app"]


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
    app.include_router(documents_router)
    app.include_router(search_router)
    app.include_router(feedback_router)
    app.include_router(audit_router)
    app.include_router(status_router)  # /health (open) and /v1/admin/status
    install_pages(app, {"/admin": "admin"})  # the site admin's page over the admin API
    app.include_router(metrics_router)
    app.include_router(federation_router)

    app.add_middleware(RefuseLargeUploads, max_upload_bytes=responder.settings.max_upload_bytes)
    metrics = install_site_metrics(app, responder)  # refused uploads are counted too
    app.state.admin_audit = SiteAuditLog(responder.site.layout.root / ADMIN_AUDIT_FILE)
    app.add_middleware(AuditAdminCalls, log=app.state.admin_audit)  # outermost: sees the 413s above too
    return app
