"""``GET /v1/admin/search``: a site admin searches this site's own documents (the admin page's search box).

Behind the same admin keys as the rest of the admin API; the passages are the site's own, so no egress
policy applies to them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from api.site_service.deps import Responder, SiteAdmin
from rag_fed.protocol import MAX_QUESTION_CHARS
from rag_fed.types import Passage, SearchMode

__all__ = ["search_router"]

search_router = APIRouter(prefix="/v1/admin", tags=["site admin"])


@search_router.get("/search")
async def search_documents(
    responder: Responder,
    _admin: SiteAdmin,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUESTION_CHARS, description="what to look for")],
    k: Annotated[int, Query(ge=1, le=50)] = 10,
    mode: SearchMode | None = None,
) -> list[Passage]:
    """This site's top ``k`` passages for ``q``, best first (``mode``: dense | keyword | hybrid)."""
    return await run_in_threadpool(responder.site.search, q, k, mode)
