"""The site node: a factory's private index and local model.

``Document`` and ``Section`` are what :meth:`Site.ingest_documents` takes (parsed text from any source),
re-exported so callers above the core need not import the loaders' package."""

from connectors import Document, Section
from rag_fed.site.ingest import FileResult, IngestReport
from rag_fed.site.layout import SiteLayout, validate_site_id
from rag_fed.site.node import Site
from rag_fed.site.search import apply_search_threads

__all__ = [
    "Document",
    "FileResult",
    "IngestReport",
    "Section",
    "Site",
    "SiteLayout",
    "apply_search_threads",
    "validate_site_id",
]
