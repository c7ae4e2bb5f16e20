"""Storage of a site node: vector indexes (FAISS, exact numpy), the SQLite docstore with its keyword
index, and ``SiteStore``, which keeps them consistent across crashes. A leaf package: it knows nothing
of embedders or the federation and takes vectors as float32 arrays."""

from indexes.base import (
    ChunkDraft,
    DocStore,
    DocStoreTransaction,
    DocumentEntry,
    FloatMatrix,
    IdArray,
    IndexKind,
    StoredChunk,
    StoredDocument,
    VectorIndex,
)
from indexes.errors import IndexCorruptError, IndexMismatchError, IndexStoreError, UnknownRecordError
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
    "Manifest",
    "SQLiteDocStore",
    "SQLiteTransaction",
    "SiteStore",
    "StoredChunk",
    "StoredDocument",
    "UnknownRecordError",
    "VectorIndex",
    "choose_kind",
    "set_search_threads",
]
