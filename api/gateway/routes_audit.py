"""``GET /v1/audit``: the newest entries of the gateway's audit log, for operators (the ops page lists them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from api.gateway.deps import Service, require_roles
from api.gateway.keystore import AuditEntry, Caller, Role

__all__ = ["audit_router"]

audit_router = APIRouter(tags=["operations"])

Operator = Annotated[Caller, Depends(require_roles(Role.OPERATOR))]


@audit_router.get("/v1/audit")
async def recent_audit(
    caller: Operator, service: Service, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditEntry]:
    """The newest ``limit`` audit entries, newest first."""
    return await run_in_threadpool(service.keystore.audit_log, limit)
