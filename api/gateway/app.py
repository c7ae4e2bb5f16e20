"""The gateway's FastAPI app: OpenAI-compatible chat, native query, operations; docs at ``/docs``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.gateway.routes_chat import chat_router
from api.gateway.routes_ops import ops_router
from api.gateway.routes_query import query_router
from api.gateway.service import GatewayService
from api.gateway.settings import GatewaySettings
from rag_fed.crypto import KeyPair
from rag_fed.errors import ConfigError
from rag_fed.federation import SiteRegistry

__all__ = ["build_service", "create_gateway_app", "load_or_create_keys"]


def load_or_create_keys(settings: GatewaySettings) -> KeyPair:
    """The gateway's key pair, generated on first start (sites need its ``public.key``)."""
    if not (settings.keys_dir / "private.key").exists():
        KeyPair.generate().save(settings.keys_dir)
    return KeyPair.load(settings.keys_dir)


def build_service(settings: GatewaySettings) -> GatewayService:
    from api.gateway.keystore import KeyStore

    try:
        settings.home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create the gateway home {settings.home}: {error}") from None
    return GatewayService(
        settings,
        keys=load_or_create_keys(settings),
        registry=SiteRegistry(settings.registry_path),
        keystore=KeyStore(settings.database),
    )


def create_gateway_app(service: GatewayService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="rag-fed gateway",
        summary="Federated question answering over the sites' maintenance documents, with citations.",
        version="1",
        lifespan=lifespan,
    )
    app.state.service = service
    install_error_handlers(app)
    app.include_router(chat_router)
    app.include_router(query_router)
    app.include_router(ops_router)
    return app
