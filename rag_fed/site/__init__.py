"""The site node: a factory's private index and local model."""

from rag_fed.site.ingest import FileResult, IngestReport
from rag_fed.site.layout import SiteLayout, validate_site_id
from rag_fed.site.node import Site

__all__ = ["FileResult", "IngestReport", "Site", "SiteLayout", "validate_site_id"]
