"""The wiring that feeds a site service's metrics (docs/operations.md): queries answered, envelopes
rejected, ingests, the index served. ``GET /metrics`` serves them (routes_metrics.py)."""

from __future__ import annotations

from fastapi import FastAPI

from api.observability import RequestMetricsMiddleware, SiteMetrics
from api.site_service.open_site import ServiceResponder

__all__ = ["install_site_metrics"]


def install_site_metrics(app: FastAPI, responder: ServiceResponder) -> SiteMetrics:
    """Count and time ``app``'s requests and ``responder``'s queries; the routes find them in ``app.state``."""
    metrics = SiteMetrics()
    site = responder.site
    metrics.watch(site.site_id, lambda: site.chunk_count, lambda: site.serving_version, responder.settings.egress)
    responder.query_observers.append(metrics.query)
    app.state.metrics = metrics
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics.http)
    return metrics
