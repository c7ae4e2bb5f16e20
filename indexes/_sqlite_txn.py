"""The write side of ``SQLiteDocStore``: one ``SQLiteTransaction`` per ``BEGIN IMMEDIATE ... COMMIT``.

It records the net chunk changes of the transaction (``ChunkChanges``) so that a caller keeping a derived
structure, the FAISS index of ``SiteStore``, can mirror exactly what was committed, and nothing if the
commit failed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from indexes._arrays import check_vectors
from indexes.base import ChunkDraft, DocumentEntry, FloatMatrix, IdArray
from indexes.errors import IndexStoreError, UnknownRecordError

__all__ = ["ChunkChanges", "SQLiteTransaction", "vector_blob"]


def vector_blob(vector: FloatMatrix) -> bytes:
    """A vector as stored in ``chunks.vector``: little-endian float32, whatever the host byte order."""
    return np.asarray(vector, dtype="<f4").tobytes()


@dataclass
class ChunkChanges:
    """Net effect of one transaction on chunks: a chunk added and deleted in it appears in neither."""

    added: dict[int, FloatMatrix] = field(default_factory=dict)
    removed: set[int] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not self.added and not self.removed

    def added_arrays(self, dim: int) -> tuple[IdArray, FloatMatrix]:
        ids = np.fromiter(self.added, dtype=np.int64, count=len(self.added))
        if not self.added:
            return ids, np.empty((0, dim), dtype=np.float32)
        return ids, np.stack(list(self.added.values())).astype(np.float32, copy=False)

    def removed_array(self) -> IdArray:
        return np.fromiter(self.removed, dtype=np.int64, count=len(self.removed))


class SQLiteTransaction:
    """Writes inside one SQLite transaction; valid only inside its ``with`` block."""

    def __init__(self, conn: sqlite3.Connection, dim: int | None) -> None:
        self._conn = conn
        self._dim = dim
        self._open = True
        self._wrote = False
        self.changes = ChunkChanges()

    def put_document(self, entry: DocumentEntry, chunks: Sequence[ChunkDraft], vectors: FloatMatrix) -> list[int]:
        self._ensure_open()
        if not entry.doc_id:
            raise ValueError("doc_id must not be empty")
        dim = self._dim if self._dim is not None else (vectors.shape[1] if vectors.ndim == 2 else 0)
        vectors = check_vectors(vectors, dim)
        if vectors.shape[0] != len(chunks):
            raise ValueError(f"got {len(chunks)} chunks but vectors of shape {vectors.shape}")
        if self._document_exists(entry.doc_id):
            self._delete(entry.doc_id)
        self._wrote = True
        self._conn.execute(
            "INSERT INTO documents"
            "(doc_id, source, title, kind, content_hash, source_hash, metadata, added_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.doc_id,
                entry.source,
                entry.title,
                entry.kind,
                entry.content_hash,
                entry.source_hash,
                json.dumps(dict(entry.metadata), sort_keys=True),
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        chunk_ids: list[int] = []
        for chunk, vector in zip(chunks, vectors, strict=True):
            first, last = chunk.lines if chunk.lines is not None else (None, None)
            cursor = self._conn.execute(
                "INSERT INTO chunks(doc_id, ordinal, text, section, page, vector, line_start, line_end)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (entry.doc_id, chunk.ordinal, chunk.text, chunk.section, chunk.page, vector_blob(vector), first, last),
            )
            chunk_id = cursor.lastrowid
            assert chunk_id is not None  # an INSERT into a rowid table always sets it
            self._conn.execute(
                "INSERT INTO chunk_fts(rowid, text, section, title) VALUES (?, ?, ?, ?)",
                (chunk_id, chunk.text, chunk.section, entry.title),
            )
            chunk_ids.append(chunk_id)
            self.changes.added[chunk_id] = vector.copy()
        return chunk_ids

    def delete_document(self, doc_id: str) -> list[int]:
        self._ensure_open()
        if not self._document_exists(doc_id):
            raise UnknownRecordError(f"no document {doc_id!r} is stored")
        return self._delete(doc_id)

    def set_source_hash(self, doc_ids: Sequence[str], source_hash: str) -> None:
        """Record that unchanged documents now come from a file whose bytes hash to ``source_hash`` (so the
        next ingest of the same bytes skips the file at once). Chunks, vectors and FTS rows stay as they
        are, so ``commit_seq`` does not advance for it (the FAISS checkpoint stays current)."""
        self._ensure_open()
        self._conn.executemany(
            "UPDATE documents SET source_hash = ? WHERE doc_id = ?", [(source_hash, doc_id) for doc_id in doc_ids]
        )

    def close(self) -> None:
        self._open = False

    def _delete(self, doc_id: str) -> list[int]:
        rows = self._conn.execute("SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY ordinal", (doc_id,))
        chunk_ids = [int(row[0]) for row in rows]
        # FTS rows are deleted explicitly: a foreign-key cascade does not reach the virtual table.
        self._conn.executemany("DELETE FROM chunk_fts WHERE rowid = ?", [(cid,) for cid in chunk_ids])
        self._conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        self._conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        for chunk_id in chunk_ids:
            if self.changes.added.pop(chunk_id, None) is None:
                self.changes.removed.add(chunk_id)
        self._wrote = True
        return chunk_ids

    @property
    def wrote(self) -> bool:
        """Whether anything was written (even a chunkless document), so ``commit_seq`` must advance."""
        return self._wrote

    def _document_exists(self, doc_id: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return row is not None

    def _ensure_open(self) -> None:
        if not self._open:
            raise IndexStoreError("this transaction has ended; open a new one with store.transaction()")
