"""Contracts of the storage leaf: ``VectorIndex`` (ids -> vectors, searchable) and ``DocStore`` (documents,
chunks, their vectors and a keyword index, committed atomically in one transaction)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = [
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
]

FloatMatrix = NDArray[np.float32]
IdArray = NDArray[np.int64]
IndexKind = Literal["flat", "hnsw"]
"""How a FAISS index is organised: exact (``flat``) or graph-based approximate (``hnsw``)."""


@runtime_checkable
class VectorIndex(Protocol):
    """Inner-product search over normalised float32 vectors keyed by int64 ids.

    ``search`` returns ``(scores, ids)`` of shape ``(len(queries), k)``, best first, padded with id -1
    and score -inf when fewer than ``k`` vectors are stored. ``remove`` returns how many ids it removed;
    a removed id is never returned again.
    """

    @property
    def dim(self) -> int: ...

    @property
    def count(self) -> int: ...

    def add(self, ids: IdArray, vectors: FloatMatrix) -> None: ...

    def search(self, queries: FloatMatrix, k: int) -> tuple[FloatMatrix, IdArray]: ...

    def remove(self, ids: IdArray) -> int: ...

    def save(self, path: Path) -> None: ...


LineRange = tuple[int, int]
"""First and last line (1-based, inclusive) of the source file a chunk came from."""


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk about to be stored: its text and where in the document it sits."""

    text: str
    ordinal: int
    section: str = ""
    page: int | None = None
    lines: LineRange | None = None


@dataclass(frozen=True)
class DocumentEntry:
    """A document about to be stored. ``doc_id`` is the site's stable id for it."""

    doc_id: str
    source: str
    title: str
    kind: str
    content_hash: str
    source_hash: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    source: str
    title: str
    kind: str
    content_hash: str
    source_hash: str
    metadata: Mapping[str, str]
    added_at: str
    chunk_count: int


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: int
    doc_id: str
    title: str
    ordinal: int
    text: str
    section: str
    page: int | None
    metadata: Mapping[str, str]
    lines: LineRange | None = None


class DocStoreTransaction(Protocol):
    """Writes inside one atomic commit: all of them land, or none."""

    def put_document(self, entry: DocumentEntry, chunks: Sequence[ChunkDraft], vectors: FloatMatrix) -> list[int]: ...

    def delete_document(self, doc_id: str) -> list[int]: ...


@runtime_checkable
class DocStore(Protocol):
    """Documents, chunks, chunk vectors of one embedder version, and a keyword index, kept in step.

    ``put_document`` replaces any document with the same id (its chunks, vectors and keyword entries
    included) and returns the new chunk ids; ``delete_document`` returns the removed chunk ids.
    """

    def transaction(self) -> AbstractContextManager[DocStoreTransaction]: ...

    def get_document(self, doc_id: str) -> StoredDocument: ...

    def list_documents(self, source: str | None = None) -> list[StoredDocument]: ...

    def get_chunks(self, chunk_ids: Sequence[int]) -> list[StoredChunk]: ...

    def iter_vectors(self, batch_size: int = 4096) -> Iterator[tuple[IdArray, FloatMatrix]]: ...

    def keyword_search(self, query: str, k: int) -> list[tuple[int, float]]: ...

    @property
    def commit_seq(self) -> int: ...

    def close(self) -> None: ...
