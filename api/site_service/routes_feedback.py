"""The site admin's view of the engineers' judgements on this site's passages (``rag_fed.feedback``): list,
count, delete one or a whole source, and import an existing search or CMMS log. Behind the admin keys;
every call is in the site's admin audit like the rest of ``/v1/admin/``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.site_service.deps import Responder, SiteAdmin
from rag_fed.errors import DocumentTooLargeError, NotFoundError
from rag_fed.feedback import FeedbackStats, Judgement
from rag_fed.feedback.importer import ImportOutcome, import_feedback_log
from rag_fed.training.site_pairs import discard_mined_pairs

__all__ = ["FeedbackDeleted", "feedback_router"]

feedback_router = APIRouter(prefix="/v1/admin/feedback", tags=["site admin"])


class FeedbackDeleted(BaseModel):
    """How many judgements went, and whether the site's mined pairs file went with them (so none trains)."""

    deleted: int
    pairs_discarded: bool = False


@feedback_router.get("")
async def list_feedback(
    responder: Responder,
    _admin: SiteAdmin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    source: Annotated[str | None, Query(max_length=300, description="chat, or import:<file name>")] = None,
) -> list[Judgement]:
    """The newest judgements first."""
    return await run_in_threadpool(responder.feedback.log.list, limit=limit, offset=offset, source=source)


@feedback_router.get("/stats")
async def feedback_stats(responder: Responder, _admin: SiteAdmin) -> FeedbackStats:
    return await run_in_threadpool(responder.feedback.log.stats)


@feedback_router.post("/import", status_code=201)
async def import_feedback(file: UploadFile, request: Request, responder: Responder, _admin: SiteAdmin) -> ImportOutcome:
    """Load a log of (question, accepted document) rows (CSV, JSON or JSON lines; see docs/training.md).
    Rows naming a document this site does not hold are not recorded and are counted; a malformed row
    refuses the whole file. Importing the same file again records nothing new."""
    limit = responder.settings.max_upload_bytes
    name = file.filename or "feedback"
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise DocumentTooLargeError(f"upload exceeds the limit of {limit} bytes")
    result = await run_in_threadpool(import_log, responder, name, data)
    request.state.audit_detail = (
        f"feedback import {name}: {result.recorded} recorded, {result.unknown_documents} unknown documents"
    )
    return result


@feedback_router.delete("/{feedback_id}")
async def delete_feedback(
    feedback_id: int, request: Request, responder: Responder, _admin: SiteAdmin
) -> FeedbackDeleted:
    request.state.audit_detail = f"feedback delete {feedback_id}"
    if not await run_in_threadpool(responder.feedback.log.delete, feedback_id):
        raise NotFoundError(f"no feedback {feedback_id} at site {responder.site.site_id}")
    return await run_in_threadpool(_after_delete, responder, 1)


@feedback_router.delete("")
async def delete_feedback_source(
    request: Request,
    responder: Responder,
    _admin: SiteAdmin,
    source: Annotated[str, Query(min_length=1, max_length=300, description="chat, or import:<file name>")],
) -> FeedbackDeleted:
    """Every judgement of one source: the engineers' chats (``chat``) or one import (``import:<file>``)."""
    request.state.audit_detail = f"feedback delete source {source}"
    deleted = await run_in_threadpool(responder.feedback.log.delete_source, source)
    return await run_in_threadpool(_after_delete, responder, deleted)


def _after_delete(responder: Responder, deleted: int) -> FeedbackDeleted:
    """Deleted judgements must never train: the pairs mined from them go too."""
    discarded = deleted > 0 and discard_mined_pairs(responder.feedback.log.path.parent)
    return FeedbackDeleted(deleted=deleted, pairs_discarded=discarded)


def import_log(responder: Responder, name: str, data: bytes) -> ImportOutcome:
    return import_feedback_log(
        responder.feedback.log,
        name,
        data,
        known_documents={doc.doc_id for doc in responder.site.list_documents()},
        site_id=responder.site.site_id,
        embedder_version=responder.site.serving_version,
    )
