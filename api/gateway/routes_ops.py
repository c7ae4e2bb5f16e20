"""Operations: ``GET /v1/sites`` (sites, health, circuit state) and ``GET /health``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.gateway.deps import Service, SiteViewer
from api.gateway.schemas import SiteView

__all__ = ["GatewayHealth", "ops_router"]

ops_router = APIRouter(tags=["operations"])


class GatewayHealth(BaseModel):
    """``embedder_version`` is the default one; ``site_versions`` what each site was last seen serving."""

    status: str
    gateway_id: str
    sites: int
    embedder_version: str
    loaded_versions: list[str]
    site_versions: dict[str, str]


@ops_router.get("/v1/sites")
async def list_sites(caller: SiteViewer, service: Service) -> list[SiteView]:
    """Registered sites with live health and circuit-breaker state (a site admin sees its own site)."""
    views = await service.site_views(caller)
    await run_in_threadpool(service.keystore.audit, caller, "/v1/sites", "ok", sites=[v.site_id for v in views])
    return views


@ops_router.get("/health")
async def health(service: Service) -> GatewayHealth:
    return GatewayHealth(
        status="ok",
        gateway_id=service.settings.gateway_id,
        sites=len(service.router.clients),
        embedder_version=service.embedder.model_version,
        loaded_versions=service.embedders.versions,
        site_versions=service.router.site_versions,
    )
