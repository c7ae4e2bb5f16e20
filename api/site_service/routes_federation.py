"""The routes the gateway calls: sealed queries, model controls, admin key lists, feedback and term
statistics (each a sealed envelope in, a sealed envelope back), and the site's sealed sketch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.errors import ErrorBody
from api.site_service.body_limits import read_body
from api.site_service.deps import Metrics, Responder
from rag_fed.admin_keys import ADMIN_KEYS_PATH
from rag_fed.crypto import SealedEnvelope
from rag_fed.crypto.envelope import MAX_ENVELOPE_BYTES
from rag_fed.feedback.messages import FEEDBACK_PATH, SiteFeedback
from rag_fed.wire.paths import MODEL_PATH, QUERY_PATH, SKETCH_PATH, TERM_STATS_PATH

__all__ = ["federation_router"]

_ENVELOPE_SCHEMA: dict[str, Any] = {
    "content": {"application/json": {"schema": SealedEnvelope.model_json_schema()}},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 409, 413, 421, 429, 500)
}

federation_router = APIRouter(tags=["federation"])


def _sealed_post(path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A route taking a sealed envelope and answering one, documented as such in the OpenAPI schema."""
    return federation_router.post(
        path,
        response_class=Response,
        responses={200: _ENVELOPE_SCHEMA, **_ERRORS},
        openapi_extra={"requestBody": {"required": True, **_ENVELOPE_SCHEMA}},
    )


@_sealed_post(QUERY_PATH)
async def site_query(request: Request, responder: Responder, metrics: Metrics) -> Response:
    """A ``SiteQuery`` sealed to this site by the gateway; the answer is a ``SiteReply`` sealed back."""
    sealed = await read_body(request, MAX_ENVELOPE_BYTES)
    with metrics.counting_rejections():
        reply = await run_in_threadpool(responder.handle, sealed)
    return Response(reply, media_type="application/json")


@_sealed_post(MODEL_PATH)
async def site_model(request: Request, responder: Responder, metrics: Metrics) -> Response:
    """A ``ModelControl`` sealed to this site by the gateway (rollout, rollback, status); the answer is
    a ``ModelControlReply`` sealed back. A rollout loads the model, then re-embeds in the background."""
    sealed = await read_body(request, MAX_ENVELOPE_BYTES)
    with metrics.counting_rejections():
        reply = await run_in_threadpool(responder.handle_control, sealed)
    return Response(reply, media_type="application/json")


@_sealed_post(ADMIN_KEYS_PATH)
async def site_admin_keys(request: Request, responder: Responder) -> Response:
    """An ``AdminKeyList`` sealed to this site by the gateway: every active admin key it issued for this
    site (docs/security.md); the answer is an ``AdminKeyListAck`` sealed back."""
    sealed = await read_body(request, MAX_ENVELOPE_BYTES)
    ack = await run_in_threadpool(responder.handle_admin_keys, sealed)
    return Response(ack, media_type="application/json")


@_sealed_post(FEEDBACK_PATH)
async def site_feedback(request: Request, responder: Responder, metrics: Metrics) -> Response:
    """A ``SiteFeedback`` sealed to this site: an engineer's judgement on one of its passages, kept in
    the site's feedback log for fine-tuning (docs/training.md); a ``SiteFeedbackAck`` sealed back."""
    sealed = await read_body(request, MAX_ENVELOPE_BYTES)

    def receive() -> bytes:
        message = responder.open_message(sealed, SiteFeedback)
        return responder.seal_message(responder.feedback.receive(message))

    with metrics.counting_rejections():
        ack = await run_in_threadpool(receive)
    return Response(ack, media_type="application/json")


@federation_router.get(SKETCH_PATH, response_class=Response, responses={200: _ENVELOPE_SCHEMA})
async def site_sketch(responder: Responder) -> Response:
    """Centroids of this site's vectors (no text), sealed to the gateway."""
    sealed = await run_in_threadpool(responder.sketch)
    return Response(sealed, media_type="application/json")


@_sealed_post(TERM_STATS_PATH)
async def site_term_stats(request: Request, responder: Responder, metrics: Metrics) -> Response:
    """A ``TermStatsRequest`` sealed to this site (it carries the federation's term key); the answer is the
    site's ``TermStatsPublication`` sealed back: its counts keyed by hashed terms (docs/term-statistics.md)."""
    sealed = await read_body(request, MAX_ENVELOPE_BYTES)
    with metrics.counting_rejections():
        publication = await run_in_threadpool(responder.handle_term_stats, sealed)
    return Response(publication, media_type="application/json")
