"""``GET /v1/admin/audit``: the site's admin audit log (audit.py) read back, behind the site's admin keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from api.site_service.audit import SiteAuditEntry
from api.site_service.deps import AuditLog, SiteAdmin

__all__ = ["audit_router"]

audit_router = APIRouter(prefix="/v1/admin", tags=["site admin"])


@audit_router.get("/audit")
async def read_audit(
    log: AuditLog,
    _admin: SiteAdmin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SiteAuditEntry]:
    """The newest ``limit`` admin calls at this site (every key's, refused ones included), newest first."""
    return await run_in_threadpool(log.newest, limit)
