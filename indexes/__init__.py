"""Storage of a site node: vector indexes (FAISS, exact numpy), the SQLite docstore with its keyword
index, and ``SiteStore``, which keeps them consistent across crashes. A leaf package: it knows nothing
of embedders or the federation and takes vectors as float32 arrays.

The names below are imported on first use (PEP 562): ``import indexes.errors``, which every ``rag_fed``
error import needs, must not pay for numpy and FAISS.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from indexes.errors import (
    IndexCorruptError,
    IndexMismatchError,
    IndexStoreError,
    StoreLockedError,
    UnknownRecordError,
)

if TYPE_CHECKING:
    from indexes._writer_lock import writer_holder
    from indexes.base import (
        ChunkDraft,
        DocStore,
        DocStoreTransaction,
        DocumentEntry,
        FloatMatrix,
        IdArray,
        IndexKind,
        LineRange,
        StoredChunk,
        StoredDocument,
        VectorIndex,
    )
    from indexes.faiss_index import FaissVectorIndex, choose_kind, set_search_threads
    from indexes.manifest import Manifest
    from indexes.numpy_index import ExactNumpyIndex
    from indexes.site_store import SiteStore
    from indexes.sqlite_docstore import ChunkChanges, SQLiteDocStore, SQLiteTransaction

__all__ = [
    "ChunkChanges",
    "ChunkDraft",
    "DocStore",
    "DocStoreTransaction",
    "DocumentEntry",
    "ExactNumpyIndex",
    "FaissVectorIndex",
    "FloatMatrix",
    "IdArray",
    "IndexCorruptError",
    "IndexKind",
    "IndexMismatchError",
    "IndexStoreError",
    "LineRange",
    "Manifest",
    "SQLiteDocStore",
    "SQLiteTransaction",
    "SiteStore",
    "StoreLockedError",
    "StoredChunk",
    "StoredDocument",
    "UnknownRecordError",
    "VectorIndex",
    "choose_kind",
    "set_search_threads",
    "writer_holder",
]

_HOMES = {
    **dict.fromkeys(
        (
            "ChunkDraft",
            "DocStore",
            "DocStoreTransaction",
            "DocumentEntry",
            "FloatMatrix",
            "IdArray",
            "IndexKind",
            "LineRange",
            "StoredChunk",
            "StoredDocument",
            "VectorIndex",
        ),
        "indexes.base",
    ),
    **dict.fromkeys(("FaissVectorIndex", "choose_kind", "set_search_threads"), "indexes.faiss_index"),
    "Manifest": "indexes.manifest",
    "ExactNumpyIndex": "indexes.numpy_index",
    "SiteStore": "indexes.site_store",
    **dict.fromkeys(("ChunkChanges", "SQLiteDocStore", "SQLiteTransaction"), "indexes.sqlite_docstore"),
    "writer_holder": "indexes._writer_lock",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
