"""``POST /v1/query``: the native JSON interface, with passages, site answers, latency and bytes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.errors import BUSY_RESPONSE, ErrorBody
from api.gateway.deps import Asker, Service
from api.gateway.keystore import Caller
from api.gateway.schemas import QueryRequest, QueryResponse
from api.gateway.service import GatewayService

__all__ = ["query_router"]

query_router = APIRouter(tags=["query"])


@query_router.post("/v1/query", responses={429: {**BUSY_RESPONSE, "model": ErrorBody}})
async def query(body: QueryRequest, caller: Asker, service: Service) -> QueryResponse:
    """Ask the federation. ``want_answer=false`` is retrieval only (no evidence is cut, no model runs);
    otherwise the sites send evidence and the answer is composed with ``strategy``, within the caller's
    share of answers (429 beyond it)."""
    if not body.want_answer:
        return await _query(body, caller, service)
    with service.admission.admit(caller.key_id):
        return await _query(body, caller, service)


async def _query(body: QueryRequest, caller: Caller, service: GatewayService) -> QueryResponse:
    phrase = service.settings.site_answers if body.site_answers is None else body.site_answers
    result = await service.retrieve(
        body.question,
        k=body.k,
        mode=body.mode,
        sites=body.sites,
        want_answer=body.want_answer,
        phrase=body.want_answer and phrase,
    )
    answer = None
    if body.want_answer:
        stream = await service.answers.stream(body.question, result, strategy=body.strategy)
        answer = await run_in_threadpool(stream.collect)
    asked = [site.site_id for site in result.sites if site.status != "skipped"]
    await run_in_threadpool(
        service.keystore.audit,
        caller,
        "/v1/query",
        "ok",
        question=body.question,
        store_text=service.settings.audit_questions == "text",
        sites=asked,
    )
    return QueryResponse(
        request_id=result.request_id,
        answer=answer,
        passages=result.passages,
        site_answers=result.answers,
        evidence=result.evidence,
        sites=result.sites,
        bytes_total=result.bytes_total,
        elapsed_ms=result.elapsed_ms,
        embedder_version=result.embedder_version,
        term_stats=result.term_stats,
    )
