"""``SiteStore``: a site's documents, keyword index and vector index, kept consistent across crashes.

- SQLite (``docstore.sqlite3``, see ``SQLiteDocStore``) is the single commit log and source of truth:
  documents, chunks, each chunk's vector, the FTS5 keyword index and ``commit_seq`` change in one
  transaction. The ``meta`` table also holds the ``Manifest``.
- The FAISS index is derived and rebuildable. It lives in memory and is updated right after each SQLite
  commit (never when the commit failed). ``checkpoint()`` saves it atomically as
  ``vectors.<commit_seq>.faiss``, records {file, sha256, commit_seq, kind, count} in the manifest
  (durably), then deletes older vector files.
- ``open`` refuses a missing or altered vector file (``IndexCorruptError``; ``force_rebuild=True``, the
  ``ragfed index rebuild`` path, rebuilds instead), rebuilds from SQLite when the file is older than the
  docstore (a crash between a commit and the next checkpoint: expected, not corruption) and removes
  vector files left by a crash mid-checkpoint. An embedder name, version or dim other than the store's
  raises ``IndexMismatchError``.
- The index is exact (flat) below ``hnsw_threshold`` vectors and HNSW from there on; the kind changes
  at a checkpoint or rebuild, and only back to flat below half the threshold, so a store hovering near
  the threshold does not rebuild at every checkpoint.
- One process at a time opens a store for writing: ``open`` takes an exclusive ``flock`` on
  ``writer.lock`` and a second opener gets ``StoreLockedError`` naming the holder's pid. Within the
  process the store is thread-safe.
- Any number of processes may read beside it with ``open_read_only``: no lock, a WAL reader on the
  docstore, and the vector index loaded from the current vector file, or built in memory (exact) when
  the file is stale or was replaced meanwhile. Nothing is written: no checkpoint, no cleanup, no
  rebuild on disk. The reader sees the store as committed when it opened; vectors committed later are
  not in its index (reopen to see them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from threading import RLock
from types import TracebackType

import numpy as np

from indexes._fsio import make_private_dir, sha256_file
from indexes._vector_files import (
    is_vector_file,
    load_checked,
    next_vector_file_name,
    remove_vector_files,
    vector_file_problem,
)
from indexes._writer_lock import WriterLock
from indexes.base import FloatMatrix, IdArray, IndexKind
from indexes.errors import IndexCorruptError, IndexStoreError
from indexes.faiss_index import FaissVectorIndex, choose_kind
from indexes.keyword_index import CorpusStats, KeywordRanking
from indexes.manifest import Manifest, read_manifest, write_manifest
from indexes.sqlite_docstore import ChunkChanges, SQLiteDocStore, SQLiteTransaction

__all__ = ["DOCSTORE_FILE_NAME", "SiteStore"]

DOCSTORE_FILE_NAME = "docstore.sqlite3"
_log = logging.getLogger(__name__)


class SiteStore:
    """Open with ``SiteStore.open``; see the module docstring for the guarantees."""

    def __init__(
        self,
        directory: Path,
        docstore: SQLiteDocStore,
        lock: WriterLock | None,
        manifest: Manifest,
        threshold: int,
        hint: str,
    ) -> None:
        self._directory, self._docstore, self._writer_lock = directory, docstore, lock
        self._read_only = lock is None
        self._manifest, self._hnsw_threshold, self._rebuild_hint = manifest, threshold, hint
        self._dim = manifest.dim
        self._index = FaissVectorIndex(manifest.dim, manifest.index_kind)
        self._lock = RLock()
        self._closed = False

    @classmethod
    def open(
        cls,
        directory: Path | str,
        embedder_version: str,
        dim: int,
        *,
        embedder_name: str = "",
        hnsw_threshold: int = 50_000,
        site_id: str | None = None,
        force_rebuild: bool = False,
    ) -> SiteStore:
        """Open (or create) the store in ``directory`` for vectors of the named embedder.

        ``site_id`` only names the site in error messages. ``force_rebuild`` ignores the vector file
        and rebuilds the index from the docstore (what ``ragfed index rebuild`` does).
        """
        directory = Path(directory)
        make_private_dir(directory)
        hint = f"run `ragfed index rebuild --site {site_id or '<site-id>'}` to rebuild it from the docstore"
        lock = WriterLock.acquire(directory)
        docstore: SQLiteDocStore | None = None
        try:
            docstore = SQLiteDocStore(directory / DOCSTORE_FILE_NAME, dim=dim)
            manifest = read_manifest(docstore)
            if manifest is None:
                manifest = Manifest(embedder_name, embedder_version, dim, choose_kind(0, hnsw_threshold))
                write_manifest(docstore, manifest)
            manifest.check_embedder(embedder_name, embedder_version, dim, where=f"site store {directory}")
            remove_vector_files(directory, keep=manifest.vector_file)
            store = cls(directory, docstore, lock, manifest, hnsw_threshold, hint)
            store._load_or_rebuild(force_rebuild)
            return store
        except BaseException:
            if docstore is not None:
                docstore.close()
            lock.release()
            raise

    @classmethod
    def open_read_only(
        cls,
        directory: Path | str,
        *,
        embedder_name: str,
        embedder_version: str | None = None,
        dim: int | None = None,
        site_id: str | None = None,
    ) -> SiteStore:
        """Open an existing store for reading, beside the process that may hold it for writing.

        The embedder name must be the store's; its version and dim are checked when given (a caller
        that embeds no query, such as a listing, need not load the model to learn them). Writes,
        checkpoints and rebuilds raise ``IndexStoreError``.
        """
        directory = Path(directory)
        hint = f"run `ragfed index rebuild --site {site_id or '<site-id>'}` to rebuild it from the docstore"
        docstore = SQLiteDocStore(directory / DOCSTORE_FILE_NAME, dim=dim, read_only=True)
        try:
            with docstore.snapshot():  # the manifest, commit_seq and the vectors of one committed state
                manifest = read_manifest(docstore)
                if manifest is None:
                    raise IndexStoreError(
                        f"site store {directory} has no manifest yet: the process creating it has not finished;"
                        " try again in a moment"
                    )
                where = f"site store {directory}"
                version, wanted_dim = embedder_version or manifest.embedder_version, dim or manifest.dim
                manifest.check_embedder(embedder_name, version, wanted_dim, where=where)
                store = cls(directory, docstore, None, manifest, 0, hint)
                store._load_for_reading()
            return store
        except BaseException:
            docstore.close()
            raise

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def docstore(self) -> SQLiteDocStore:
        return self._docstore

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def index_kind(self) -> IndexKind:
        return self._index.kind

    @property
    def count(self) -> int:
        """Vectors in the index, equal to the number of stored chunks."""
        return self._index.count

    @contextmanager
    def transaction(self) -> Iterator[SQLiteTransaction]:
        """Writes that commit together; the vector index follows once the SQLite commit succeeded."""
        with self._lock:
            self._ensure_writable()
            with self._docstore.transaction() as txn:
                yield txn
            self._mirror(txn.changes)

    def search(self, queries: FloatMatrix, k: int) -> tuple[FloatMatrix, IdArray]:
        """``(scores, chunk_ids)`` of shape ``(len(queries), k)``, padded with -inf / -1."""
        with self._lock:
            self._ensure_open()
            return self._index.search(queries, k)

    def keyword_search(self, query: str, k: int, *, prune: bool = True) -> list[tuple[int, float]]:
        """BM25 ranking of the chunks (``SQLiteDocStore.keyword_search``); runs beside ``search`` without
        waiting for it, as the two take different locks."""
        return self._docstore.keyword_search(query, k, prune=prune)

    def keyword_ranking(self, query: str, k: int, *, stats: CorpusStats | None = None) -> KeywordRanking:
        """``keyword_search`` with BM25 from a federation's ``stats`` where possible
        (``SQLiteDocStore.keyword_ranking``)."""
        return self._docstore.keyword_ranking(query, k, stats=stats)

    def checkpoint(self) -> None:
        """Save the vector index if it changed since the last checkpoint (or must change kind)."""
        with self._lock:
            self._ensure_writable()
            wanted = self._kind_for(self._index.count)
            if wanted != self._index.kind:
                self._index = self._build_index(wanted)
            self._save_index()

    def rebuild(self) -> None:
        """Rebuild the vector index from the vectors in SQLite and checkpoint it."""
        with self._lock:
            self._ensure_writable()
            self._index = self._build_index(self._kind_for(len(self._docstore.chunk_ids())))
            self._save_index(force=True)

    def verify(self) -> list[str]:
        """Problems found (an empty list means the store is consistent)."""
        with self._lock:
            self._ensure_open()
            problems = self._docstore.verify()
            stored, indexed = self._docstore.chunk_ids(), self._index.ids()
            missing, extra = np.setdiff1d(stored, indexed), np.setdiff1d(indexed, stored)
            if missing.size:
                problems.append(f"{missing.size} chunks have no vector in the index, e.g. {missing[:5].tolist()}")
            if extra.size:
                problems.append(f"{extra.size} index vectors belong to no chunk, e.g. {extra[:5].tolist()}")
            if stored.size != self._index.count:
                problems.append(f"{stored.size} chunks but {self._index.count} vectors in the index")
            manifest, seq = self._manifest, self._docstore.commit_seq
            if manifest.vector_file:
                problem = vector_file_problem(self._directory, manifest)
                if problem is not None:
                    problems.append(problem)
            if manifest.vector_commit_seq > seq:
                problems.append(f"vector file reflects commit {manifest.vector_commit_seq}, docstore is at {seq}")
            strays = sorted(
                p.name for p in self._directory.iterdir() if is_vector_file(p.name) and p.name != manifest.vector_file
            )
            if strays:
                problems.append(f"vector files not named by the manifest: {strays}")
            return problems

    def close(self) -> None:
        """Checkpoint (unless read-only), then release the docstore and the writer lock. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._writer_lock is not None:
                    self.checkpoint()
            finally:
                self._closed = True
                self._docstore.close()
                if self._writer_lock is not None:
                    self._writer_lock.release()

    def __enter__(self) -> SiteStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _load_or_rebuild(self, force_rebuild: bool) -> None:
        manifest, seq = self._manifest, self._docstore.commit_seq
        if force_rebuild or not manifest.vector_file:
            self.rebuild()
        elif manifest.vector_commit_seq != seq:
            # Still refuse an altered file: a stale one is expected, a tampered one is not.
            problem = vector_file_problem(self._directory, manifest)
            if problem is not None:
                raise IndexCorruptError(f"{problem}; {self._rebuild_hint}")
            _log.info(
                "vector file %s reflects commit %d but the docstore is at %d; rebuilding from the docstore",
                manifest.vector_file,
                manifest.vector_commit_seq,
                seq,
            )
            self.rebuild()
        else:
            self._index = load_checked(self._directory, manifest, self._rebuild_hint)

    def _load_for_reading(self) -> None:
        """The current vector file, else an exact index built in memory from the docstore (read-only)."""
        manifest, seq = self._manifest, self._docstore.commit_seq
        if manifest.vector_file and manifest.vector_commit_seq == seq:
            try:
                self._index = load_checked(self._directory, manifest, self._rebuild_hint)
                return
            except IndexCorruptError:
                if (self._directory / manifest.vector_file).is_file():
                    raise  # an altered file is never used, nor silently worked around
                # Gone: the writer checkpointed and removed it after this reader read the manifest.
        _log.info("vector file of %s is not current; building the index in memory (read-only)", self._directory)
        self._index = self._build_index("flat")

    def _build_index(self, kind: IndexKind) -> FaissVectorIndex:
        index = FaissVectorIndex(self._dim, kind)
        for ids, vectors in self._docstore.iter_vectors():
            if vectors.shape[1] != self._dim:
                raise IndexCorruptError(
                    f"docstore {self._docstore.path} holds vectors of dim {vectors.shape[1]}, expected {self._dim}"
                )
            index.add(ids, vectors)
        return index

    def _save_index(self, force: bool = False) -> None:
        manifest, seq = self._manifest, self._docstore.commit_seq
        current = manifest.vector_commit_seq == seq and manifest.index_kind == self._index.kind
        if manifest.vector_file and current and not force:
            return
        name = next_vector_file_name(seq, manifest.vector_file)
        path = self._directory / name
        self._index.save(path)
        updated = replace(
            manifest,
            index_kind=self._index.kind,
            vector_file=name,
            vector_sha256=sha256_file(path),
            vector_commit_seq=seq,
            vector_count=self._index.count,
        )
        write_manifest(self._docstore, updated)
        self._manifest = updated
        remove_vector_files(self._directory, keep=name)

    def _kind_for(self, count: int) -> IndexKind:
        if self._manifest.index_kind == "hnsw" and count >= self._hnsw_threshold // 2:
            return "hnsw"
        return choose_kind(count, self._hnsw_threshold)

    def _mirror(self, changes: ChunkChanges) -> None:
        try:
            if changes.removed:
                self._index.remove(changes.removed_array())
            if changes.added:
                self._index.add(*changes.added_arrays(self._dim))
        except Exception:
            # The commit stands, so the index must follow it whatever went wrong here.
            _log.exception("updating the vector index after a commit failed; rebuilding it from the docstore")
            self._index = self._build_index(self._index.kind)

    def _ensure_open(self) -> None:
        if self._closed:
            raise IndexStoreError(f"site store {self._directory} is closed")

    def _ensure_writable(self) -> None:
        self._ensure_open()
        if self._read_only:
            raise IndexStoreError(
                f"site store {self._directory} is open read-only: write through the process that holds it"
                " for writing (a running site service), or stop that process and open the store for writing"
            )
