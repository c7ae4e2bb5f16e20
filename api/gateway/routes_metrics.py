"""``GET /metrics``: the gateway's Prometheus metrics (docs/operations.md), for operators only.

Engineers, evaluators and site admins get 403: per-site latencies, failures and breaker states describe
the whole federation. Prometheus scrapes with an operator key (``authorization`` in its scrape config), or
from ``metrics_bind``, an address of its own that needs no key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from api.gateway.deps import Service, require_roles
from api.gateway.keystore import Caller, Role
from api.observability import metrics_response

__all__ = ["metrics_router"]

metrics_router = APIRouter(tags=["operations"])

Operator = Annotated[Caller, Depends(require_roles(Role.OPERATOR))]


@metrics_router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(caller: Operator, service: Service) -> Response:
    """Requests, stage latencies, each site's replies, failures, timeouts and breaker, answers, feedback."""
    return metrics_response(service.metrics.registry)
