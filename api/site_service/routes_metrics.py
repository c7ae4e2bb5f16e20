"""``GET /metrics`` of a site service (docs/operations.md), behind this site's admin keys.

Engineers hold no site admin key, so they never see it; Prometheus scrapes with an admin key or from
``metrics_bind``, an address of its own that needs no key (metrics.py feeds the registry).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.observability import metrics_response
from api.site_service.deps import Metrics, SiteAdmin

__all__ = ["metrics_router"]

metrics_router = APIRouter(tags=["operations"])


@metrics_router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(metrics: Metrics, _admin: SiteAdmin) -> Response:
    """Queries and stage latencies, envelopes rejected by reason, ingests, index size and embedder version."""
    return metrics_response(metrics.registry)
