"""Document loaders and chunking for a site: files in, ``Document``s and ``Chunk``s out.

A leaf package: it imports neither ``rag_fed`` nor ``indexes``. Every failure is a
``connectors.errors.ConnectorError`` naming the file and the reason.

The names below are imported on first use (PEP 562): ``import connectors.errors``, which every
``rag_fed`` error import needs, must not pay for the parsers (bs4, pypdf, markdown-it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from connectors import errors
from connectors.errors import ConnectorError

if TYPE_CHECKING:
    from connectors.base import Connector, Document, Section, SourceData
    from connectors.chunking import Chunk, chunk_document
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

_HOMES = {
    "Connector": "connectors.base",
    "Document": "connectors.base",
    "Section": "connectors.base",
    "SourceData": "connectors.base",
    "Chunk": "connectors.chunking",
    "chunk_document": "connectors.chunking",
    "SUPPORTED_SUFFIXES": "connectors.registry",
    "connector_for": "connectors.registry",
    "default_connectors": "connectors.registry",
    "load_documents": "connectors.registry",
    "WorkOrderColumns": "connectors.worklogs",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
