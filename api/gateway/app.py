"""The gateway's FastAPI app: OpenAI-compatible chat, native query, operations; docs at ``/docs``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.docs_pages import install_local_docs
from api.errors import install_error_handlers
from api.gateway.home import init_home, load_or_create_keys
from api.gateway.routes_audit import audit_router
from api.gateway.routes_chat import chat_router
from api.gateway.routes_feedback import feedback_router
from api.gateway.routes_metrics import metrics_router
from api.gateway.routes_ops import ops_router
from api.gateway.routes_query import query_router
from api.gateway.service import GatewayService
from api.observability import MetricsServer, RequestMetricsMiddleware
from api.web import install_pages
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.federation import SiteRegistry

__all__ = ["build_service", "create_gateway_app", "load_or_create_keys"]


def build_service(settings: GatewaySettings) -> GatewayService:
    """The service over ``settings.home``, creating the home on first start (as ``ragfed gateway init``)."""
    from api.gateway.keystore import KeyStore

    home = init_home(settings)
    return GatewayService(
        settings,
        keys=home.keys,
        registry=SiteRegistry(settings.registry_path),
        keystore=KeyStore(settings.database),
    )


def create_gateway_app(service: GatewayService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        bind = service.settings.metrics_bind
        metrics_server = MetricsServer(service.metrics.registry, bind) if bind else None
        if metrics_server is not None:
            metrics_server.start()
        try:
            yield
        finally:
            if metrics_server is not None:
                metrics_server.stop()
            await service.stop()

    app = FastAPI(
        title="rag-fed gateway",
        summary="Federated question answering over the sites' maintenance documents, with citations.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served from local assets below: no CDN on a plant network
        redoc_url=None,
    )
    app.state.service = service
    install_error_handlers(app)
    install_local_docs(app)
    app.include_router(chat_router)
    app.include_router(query_router)
    app.include_router(ops_router)
    app.include_router(feedback_router)
    app.include_router(audit_router)
    app.include_router(metrics_router)
    install_pages(app, {"/": "engineer", "/ops": "ops"})  # static pages over the APIs above
    # Outermost: every request counted and timed, and given the request id the sites will log too.
    app.add_middleware(RequestMetricsMiddleware, metrics=service.metrics.http, issue_request_ids=True)
    return app
