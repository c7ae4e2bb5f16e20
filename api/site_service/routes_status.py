"""``GET /health``: liveness, open to anyone (load balancers, the gateway's version hint); ``GET
/v1/admin/status``: what the site holds and lets out (chunk count, egress policy, rollout settings and
progress), for the site's admins only: an unauthenticated caller learns that the site is up and which
embedder version it serves, nothing about its documents or its policy."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.site_service.deps import Responder, SiteAdmin
from rag_fed.protocol import ReembedProgress

__all__ = ["Health", "SiteDetails", "status_router"]

status_router = APIRouter()


class Health(BaseModel):
    """``embedder_version`` is the version the site serves (``serving_version`` says the same, by name)."""

    status: str
    site_id: str
    embedder_version: str
    serving_version: str


class SiteDetails(Health):
    """``reembed`` is the running or last re-embed of this process, with its progress."""

    chunks: int
    previous_version: str | None
    accept_model_rollouts: bool
    reembed: ReembedProgress | None
    egress: str


@status_router.get("/health", tags=["operations"])
async def health(responder: Responder) -> Health:
    site = responder.site
    return Health(
        status="ok", site_id=site.site_id, embedder_version=site.serving_version, serving_version=site.serving_version
    )


@status_router.get("/v1/admin/status", tags=["site admin"])
async def site_details(responder: Responder, _admin: SiteAdmin) -> SiteDetails:
    """What this site serves, holds and lets out, and its re-embed's progress."""
    site = responder.site
    return SiteDetails(
        status="ok",
        site_id=site.site_id,
        embedder_version=site.serving_version,
        serving_version=site.serving_version,
        chunks=site.chunk_count,
        previous_version=site.previous_version,
        accept_model_rollouts=responder.settings.accept_model_rollouts,
        reembed=site.reembed_status(),
        egress=responder.settings.egress,
    )
