"""``/v1/admin/documents`` and ``/v1/admin/sources``: a site admin uploads, lists and deletes this site's
documents, behind the site's admin keys."""

from __future__ import annotations

from fastapi import APIRouter, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.site_service.deps import Metrics, Responder, SiteAdmin
from rag_fed.errors import DocumentTooLargeError, InputError, RagFedError

__all__ = ["DeletedDocument", "DeletedSource", "DocumentInfo", "UploadResult", "documents_router"]


class UploadResult(BaseModel):
    source: str
    status: str
    documents: int
    chunks: int
    unchanged: int
    removed: int


class DocumentInfo(BaseModel):
    doc_id: str
    title: str
    kind: str
    source: str
    chunks: int
    added_at: str


class DeletedDocument(BaseModel):
    doc_id: str
    chunks_removed: int


class DeletedSource(BaseModel):
    source: str
    documents: int
    chunks_removed: int


documents_router = APIRouter(prefix="/v1/admin", tags=["site admin"])


@documents_router.post("/documents", status_code=201)
async def upload_document(
    file: UploadFile, request: Request, responder: Responder, metrics: Metrics, _admin: SiteAdmin
) -> UploadResult:
    """Ingest one file (manual or work-order log); re-uploading an unchanged file changes nothing."""
    limit = responder.settings.max_upload_bytes
    name = file.filename or "upload"
    request.state.audit_detail = f"upload {name}"
    data = await file.read(limit + 1)
    if len(data) > limit:
        metrics.ingest_failed()
        raise DocumentTooLargeError(f"upload exceeds the limit of {limit} bytes")
    try:
        result = await run_in_threadpool(responder.site.ingest_upload, name, data)
    except RagFedError:
        metrics.ingest_failed()
        raise
    metrics.ingested(result)
    request.state.audit_detail = (
        f"upload {name} ({len(data)} bytes): {result.status}, {result.documents} documents, {result.chunks} chunks, "
        f"{result.unchanged} unchanged, {result.removed} removed" + (f"; {result.error}" if result.error else "")
    )
    if result.status == "failed":
        raise InputError(result.error or f"{name}: could not be ingested")
    responder.invalidate_sketch()
    return UploadResult(
        source=result.source,
        status=result.status,
        documents=result.documents,
        chunks=result.chunks,
        unchanged=result.unchanged,
        removed=result.removed,
    )


@documents_router.get("/documents")
async def list_documents(responder: Responder, _admin: SiteAdmin) -> list[DocumentInfo]:
    documents = await run_in_threadpool(responder.site.list_documents)
    return [
        DocumentInfo(
            doc_id=doc.doc_id,
            title=doc.title,
            kind=doc.kind,
            source=doc.source,
            chunks=doc.chunk_count,
            added_at=doc.added_at,
        )
        for doc in documents
    ]


@documents_router.delete("/documents/{doc_id:path}")
async def delete_document(doc_id: str, request: Request, responder: Responder, _admin: SiteAdmin) -> DeletedDocument:
    """Delete a document: its chunks, vectors and keyword entries are gone from the site."""
    request.state.audit_detail = f"delete {doc_id}"
    removed = await run_in_threadpool(responder.site.delete_document, doc_id)
    request.state.audit_detail = f"delete {doc_id}: {removed} chunks removed"
    responder.invalidate_sketch()
    return DeletedDocument(doc_id=doc_id, chunks_removed=removed)


@documents_router.delete("/sources/{source:path}")
async def delete_source(source: str, request: Request, responder: Responder, _admin: SiteAdmin) -> DeletedSource:
    """Delete every document that came from one file (``source`` as the document list shows it, e.g.
    ``upload:orders.csv``), in one transaction: a log's records go together."""
    request.state.audit_detail = f"delete source {source}"
    documents, removed = await run_in_threadpool(responder.site.delete_source, source)
    request.state.audit_detail = f"delete source {source}: {documents} documents, {removed} chunks removed"
    responder.invalidate_sketch()
    return DeletedSource(source=source, documents=documents, chunks_removed=removed)
