"""``GET /metrics`` of a site service (docs/operations.md), behind this site's admin keys, and the
wiring that feeds it: queries answered, envelopes rejected, ingests, the index served.

Engineers hold no site admin key, so they never see it; Prometheus scrapes with an admin key or from
``metrics_bind``, an address of its own that needs no key.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from api.observability import RequestMetricsMiddleware, SiteMetrics, metrics_response
from api.site_service.admin import SiteAdmin
from api.site_service.responder import ServiceResponder

__all__ = ["install_site_metrics", "site_metrics", "site_metrics_router"]

site_metrics_router = APIRouter(tags=["operations"])


def site_metrics(request: Request) -> SiteMetrics:
    metrics: SiteMetrics = request.app.state.metrics
    return metrics


@site_metrics_router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request, _admin: SiteAdmin) -> Response:
    """Queries and stage latencies, envelopes rejected by reason, ingests, index size and embedder version."""
    return metrics_response(site_metrics(request).registry)


def install_site_metrics(app: FastAPI, responder: ServiceResponder) -> SiteMetrics:
    """Count and time ``app``'s requests and ``responder``'s queries; serve them at ``/metrics``."""
    metrics = SiteMetrics()
    site = responder.site
    metrics.watch(site.site_id, lambda: site.chunk_count, lambda: site.serving_version, responder.settings.egress)
    responder.query_observers.append(metrics.query)
    app.state.metrics = metrics
    app.include_router(site_metrics_router)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics.http)
    return metrics
