"""The site admin API: upload, list and delete this site's documents, behind the site's admin keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from api.apikeys import key_id_of, keys_match
from api.observability import SiteMetrics
from api.site_service.responder import ServiceResponder
from rag_fed.errors import AuthError, DocumentTooLargeError, InputError, RagFedError

__all__ = ["DeletedDocument", "DeletedSource", "DocumentInfo", "UploadResult", "admin_router", "get_responder"]

_bearer = HTTPBearer(auto_error=False, description="A site admin key (rfk_...) of this site.")


def get_responder(request: Request) -> ServiceResponder:
    responder: ServiceResponder = request.app.state.responder
    return responder


Responder = Annotated[ServiceResponder, Depends(get_responder)]


def _admin_hashes(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except FileNotFoundError:
        return {}
    pairs = (line.split() for line in lines if line.strip() and not line.startswith("#"))
    return {fields[0]: fields[1] for fields in pairs if len(fields) == 2}


def require_site_admin(
    request: Request,
    responder: Responder,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The key id of a valid admin key of this site, else ``AuthError`` (401).

    A key is valid when the site's own admin-keys file holds it (re-read on every call, so a line added or
    removed applies at once) or the gateway's key list, while that list is fresh, holds it
    (docs/security.md: a key revoked at the gateway is refused here within ``admin_keys_max_age_s``)."""
    if credentials is None:
        raise AuthError("missing admin key: send 'Authorization: Bearer <site admin key>'")
    key = credentials.credentials
    key_id = key_id_of(key)
    if key_id is None:
        raise AuthError("invalid admin key for this site")
    path = responder.settings.admin_keys_path(responder.site.layout.root)
    stored = _admin_hashes(path).get(key_id)
    if stored is None:
        stored = responder.admin_keys.lookup(key_id)
    if stored is None or not keys_match(key, stored):
        raise AuthError("invalid or revoked admin key for this site")
    request.state.admin_key_id = key_id  # for the audit log (api/site_service/audit.py)
    return key_id


SiteAdmin = Annotated[str, Depends(require_site_admin)]


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


admin_router = APIRouter(prefix="/v1/admin", tags=["site admin"])


@admin_router.post("/documents", status_code=201)
async def upload_document(file: UploadFile, request: Request, responder: Responder, _admin: SiteAdmin) -> UploadResult:
    """Ingest one file (manual or work-order log); re-uploading an unchanged file changes nothing."""
    metrics: SiteMetrics = request.app.state.metrics
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


@admin_router.get("/documents")
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


@admin_router.delete("/documents/{doc_id:path}")
async def delete_document(doc_id: str, request: Request, responder: Responder, _admin: SiteAdmin) -> DeletedDocument:
    """Delete a document: its chunks, vectors and keyword entries are gone from the site."""
    request.state.audit_detail = f"delete {doc_id}"
    removed = await run_in_threadpool(responder.site.delete_document, doc_id)
    request.state.audit_detail = f"delete {doc_id}: {removed} chunks removed"
    responder.invalidate_sketch()
    return DeletedDocument(doc_id=doc_id, chunks_removed=removed)


@admin_router.delete("/sources/{source:path}")
async def delete_source(source: str, request: Request, responder: Responder, _admin: SiteAdmin) -> DeletedSource:
    """Delete every document that came from one file (``source`` as the document list shows it, e.g.
    ``upload:orders.csv``), in one transaction: a log's records go together."""
    request.state.audit_detail = f"delete source {source}"
    documents, removed = await run_in_threadpool(responder.site.delete_source, source)
    request.state.audit_detail = f"delete source {source}: {documents} documents, {removed} chunks removed"
    responder.invalidate_sketch()
    return DeletedSource(source=source, documents=documents, chunks_removed=removed)
