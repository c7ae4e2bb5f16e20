"""``GET /v1/audit``: the newest entries of the gateway's audit log, for operators (the ops page lists them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.gateway.deps import Service, require_roles
from api.gateway.keystore import Caller, Role

__all__ = ["AuditView", "audit_router"]

audit_router = APIRouter(tags=["operations"])

Operator = Annotated[Caller, Depends(require_roles(Role.OPERATOR))]


class AuditView(BaseModel):
    """One request as the audit log holds it; ``question`` is a keyed hash (``hmac-sha256:...``) unless the gateway
    keeps text."""

    at: float
    key_id: str | None
    role: str | None
    endpoint: str
    outcome: str
    question: str | None
    sites: list[str]
    request_id: str | None = None
    """The request's ``X-Request-Id``: the id the sites' logs name for the same question."""


@audit_router.get("/v1/audit")
async def recent_audit(
    caller: Operator, service: Service, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditView]:
    """The newest ``limit`` audit entries, newest first."""
    entries = await run_in_threadpool(service.keystore.audit_log, limit)
    return [
        AuditView(
            at=e.at,
            key_id=e.key_id,
            role=e.role,
            endpoint=e.endpoint,
            outcome=e.outcome,
            question=e.question,
            sites=e.sites,
            request_id=e.request_id,
        )
        for e in entries
    ]
