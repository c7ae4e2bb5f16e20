"""Document loaders and chunking for a site: files in, ``Document``s and ``Chunk``s out.

A leaf package: it imports neither ``rag_fed`` nor ``indexes``. Every failure is a
``connectors.errors.ConnectorError`` naming the file and the reason.
"""

from connectors import errors
from connectors.base import Connector, Document, Section, SourceData
from connectors.chunking import Chunk, chunk_document
from connectors.errors import ConnectorError
from connectors.registry import SUPPORTED_SUFFIXES, connector_for, default_connectors, load_documents
from connectors.worklogs import WorkOrderColumns

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Chunk",
    "Connector",
    "ConnectorError",
    "Document",
    "Section",
    "SourceData",
    "WorkOrderColumns",
    "chunk_document",
    "connector_for",
    "default_connectors",
    "errors",
    "load_documents",
]
