"""Re-embedding a site's store for another embedder version, in the background, then switching atomically.

The serving store keeps answering queries and taking ingests and deletes while a new store is filled
with the same documents, chunks and keyword entries and vectors of the new embedder. Changes committed
meanwhile are caught up in rounds: each round takes a consistent snapshot of the serving store (its
documents and chunk ids, read inside one store transaction) and copies what differs from what the new
store holds, compared by each document's fingerprint (content hash, source, chunk count ...). Chunk
ids are never reused and only grow, so after the first round a changed document's chunks are exactly
those above the previous snapshot's largest id: later rounds read only those. When a round finds
nothing to do, the site's write lock is taken (ingests wait, queries do not), one last round catches
up, and the site switches (``rag_fed.site.versions``: one atomic rename). A job that fails or is
cancelled leaves the serving store as it was; a fresh store it was building is deleted.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from indexes import (
    ChunkDraft,
    DocumentEntry,
    IdArray,
    IndexStoreError,
    SiteStore,
    StoredChunk,
    StoredDocument,
    UnknownRecordError,
)
from rag_fed.embedders.base import Embedder
from rag_fed.errors import from_leaf_error
from rag_fed.protocol import ReembedProgress
from rag_fed.site.ingest import embed_text
from rag_fed.site.layout import SiteLayout
from rag_fed.site.versions import StoreRecord

__all__ = ["JobKind", "JobSpec", "ReembedJob", "Switch"]

JobKind = Literal["rollout", "rollback"]
Switch = Callable[[StoreRecord, SiteStore, Embedder], None]
"""Makes the new store serve; called by the job with the site's write lock held."""

_log = logging.getLogger(__name__)
_READ_BATCH = 512
# Rounds run without blocking ingests while each finds something to copy; a site ingesting without
# pause could keep it busy forever, so after this many the last round runs under the write lock.
_UNLOCKED_ROUNDS = 8
_OPEN_WAIT_S = 30.0

Fingerprint = tuple[object, ...]


def _fingerprint(doc: StoredDocument) -> Fingerprint:
    """What must match for a copied document to still be current (``added_at`` is reset by a copy)."""
    return (
        doc.content_hash,
        doc.source,
        doc.source_hash,
        doc.title,
        doc.kind,
        tuple(sorted(doc.metadata.items())),
        doc.chunk_count,
    )


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class JobSpec:
    """What a job re-embeds and where: ``resume`` reuses the target store (a rollback), else it is new.
    ``switch`` makes the target serve; the job calls it holding ``write_lock`` (the site's)."""

    job: JobKind
    layout: SiteLayout
    source: SiteStore
    source_version: str
    target: StoreRecord
    embedder: Embedder
    resume: bool
    batch_chunks: int
    hnsw_threshold: int
    write_lock: threading.RLock
    switch: Switch


class ReembedJob:
    """One background re-embed (``spec``), or with no ``spec`` a job with nothing to do (``done``).
    Start it with :meth:`start`; watch it with :meth:`status`."""

    def __init__(self, job: JobKind, source_version: str, target_version: str, spec: JobSpec | None = None) -> None:
        self.job = job
        self.source_version = source_version
        self.target_version = target_version
        self._spec = spec
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._state: Literal["running", "done", "failed", "cancelled"] = "running" if spec else "done"
        self._done = 0
        self._total = 0
        self._started_at = time.time()
        self._finished_at: float | None = None if spec else self._started_at
        self._error: str | None = None

    @property
    def running(self) -> bool:
        with self._lock:
            return self._state == "running"

    def status(self) -> ReembedProgress:
        with self._lock:
            return ReembedProgress(
                job=self.job,
                state=self._state,
                source_version=self.source_version,
                target_version=self.target_version,
                chunks_done=self._done,
                chunks_total=max(self._total, self._done),
                started_at=self._started_at,
                finished_at=self._finished_at,
                error=self._error,
            )

    def start(self) -> ReembedJob:
        if self._spec is not None and self._thread is None:
            name = f"reembed-{self._spec.layout.site_id}"
            self._thread = threading.Thread(target=self._run, args=(self._spec,), name=name, daemon=True)
            self._thread.start()
        return self

    def wait(self, timeout_s: float | None = None) -> ReembedProgress:
        """Block until the job ends (or ``timeout_s`` passes) and return its status."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.status()

    def cancel(self, timeout_s: float | None = None) -> ReembedProgress:
        """Stop at the next batch; the serving store is untouched. Waits up to ``timeout_s``."""
        self._cancel.set()
        return self.wait(timeout_s)

    # -- the work (in the job's thread) ------------------------------------------------------------

    def _run(self, spec: JobSpec) -> None:
        site, version = spec.layout.site_id, spec.embedder.model_version
        _log.info("site %s: %s re-embed %s -> %s started", site, spec.job, spec.source_version, version)
        target: SiteStore | None = None
        switched = False
        try:
            target = self._open_target(spec)
            copied = {doc.doc_id: _fingerprint(doc) for doc in target.docstore.list_documents()}
            watermark = -1
            for _ in range(_UNLOCKED_ROUNDS):
                watermark, worked = self._catch_up(spec, target, copied, watermark)
                if not worked:
                    break
            with spec.write_lock:
                self._catch_up(spec, target, copied, watermark)
                target.checkpoint()
                self._check_cancelled()
                spec.switch(spec.target, target, spec.embedder)
                switched = True
            self._finish("done")
            _log.info("site %s now serves %s", site, version)
        except _Cancelled:
            self._finish("cancelled")
            _log.info("site %s: re-embed to %s cancelled; %s still serves", site, version, spec.source_version)
        except Exception as error:  # the thread's last stop: every failure must reach the status
            _log.exception("site %s: re-embed to %s failed", site, version)
            self._finish("failed", f"{type(error).__name__}: {from_leaf_error(error)}"[:2000])
        finally:
            if target is not None and not switched:
                _discard(spec, target)

    def _finish(self, state: Literal["done", "failed", "cancelled"], error: str | None = None) -> None:
        with self._lock:
            self._state, self._error, self._finished_at = state, error, time.time()

    def _check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled

    def _open_target(self, spec: JobSpec) -> SiteStore:
        directory = spec.layout.root / spec.target.directory
        if not spec.resume and directory.exists():
            shutil.rmtree(directory)  # never expected (names are fresh), but never build on leftovers
        # Back to the previous store right after a switch, a query may still hold it open for a moment.
        deadline = time.monotonic() + _OPEN_WAIT_S
        while True:
            try:
                return SiteStore.open(
                    directory,
                    embedder_version=spec.embedder.model_version,
                    dim=spec.embedder.dim,
                    embedder_name=spec.target.model,
                    hnsw_threshold=spec.hnsw_threshold,
                    site_id=spec.layout.site_id,
                )
            except IndexStoreError as error:
                if not spec.resume or type(error) is not IndexStoreError or time.monotonic() > deadline:
                    raise from_leaf_error(error) from error
            self._check_cancelled()
            time.sleep(0.1)

    def _catch_up(
        self, spec: JobSpec, target: SiteStore, copied: dict[str, Fingerprint], watermark: int
    ) -> tuple[int, bool]:
        """One round: copy what changed since ``watermark``; returns the next watermark and whether
        anything was copied or deleted."""
        source = spec.source
        with source.transaction():  # no write commits while the snapshot is read
            docs = {doc.doc_id: doc for doc in source.docstore.list_documents()}
            ids = source.docstore.chunk_ids()
        fingerprints = {doc_id: _fingerprint(doc) for doc_id, doc in docs.items()}
        stale = [doc_id for doc_id in copied if doc_id not in docs]
        wanted = {doc_id: doc for doc_id, doc in docs.items() if copied.get(doc_id) != fingerprints[doc_id]}
        newest = max(int(ids[-1]) if ids.size else -1, watermark)
        if not stale and not wanted:
            return newest, False
        self._check_cancelled()
        if stale:
            with target.transaction() as transaction:
                for doc_id in stale:
                    with contextlib.suppress(UnknownRecordError):
                        transaction.delete_document(doc_id)
                    del copied[doc_id]
        with self._lock:
            self._total += sum(doc.chunk_count for doc in wanted.values())
        self._copy(spec, target, _Round(wanted, fingerprints, copied), ids[ids > watermark])
        # A document replaced while it was read is incomplete. Its new chunks lie above ``newest``, but
        # the next round reads this range again all the same: that costs little and assumes nothing.
        incomplete = any(copied.get(doc_id) != fingerprints[doc_id] for doc_id in wanted)
        return (watermark if incomplete else newest), True

    def _copy(self, spec: JobSpec, target: SiteStore, round_: _Round, candidates: IdArray) -> None:
        parts: dict[str, list[StoredChunk]] = {}
        batch: list[tuple[StoredDocument, list[StoredChunk]]] = [
            (doc, []) for doc in round_.wanted.values() if doc.chunk_count == 0
        ]
        batch_size = 0
        for start in range(0, len(candidates), _READ_BATCH):
            self._check_cancelled()
            for chunk in _read_chunks(spec.source, [int(i) for i in candidates[start : start + _READ_BATCH]]):
                doc = round_.wanted.get(chunk.doc_id)
                if doc is None:
                    continue
                got = parts.setdefault(chunk.doc_id, [])
                got.append(chunk)
                if len(got) == doc.chunk_count:
                    batch.append((doc, parts.pop(chunk.doc_id)))
                    batch_size += doc.chunk_count
                if batch_size >= spec.batch_chunks:
                    self._write(spec, target, batch, round_)
                    batch, batch_size = [], 0
        self._write(spec, target, batch, round_)

    def _write(
        self,
        spec: JobSpec,
        target: SiteStore,
        batch: list[tuple[StoredDocument, list[StoredChunk]]],
        round_: _Round,
    ) -> None:
        if not batch:
            return
        self._check_cancelled()
        ordered = [(doc, sorted(chunks, key=lambda chunk: chunk.ordinal)) for doc, chunks in batch]
        # The same text the ingest pipeline embeds, so a re-embedded store equals a fresh ingest.
        texts = [embed_text(doc.title, chunk.section, chunk.text) for doc, chunks in ordered for chunk in chunks]
        embedder = spec.embedder
        vectors = embedder.embed(texts) if texts else np.zeros((0, embedder.dim), np.float32)
        offset = 0
        with target.transaction() as transaction:
            for doc, chunks in ordered:
                drafts = [ChunkDraft(c.text, c.ordinal, c.section, c.page) for c in chunks]
                entry = DocumentEntry(
                    doc.doc_id, doc.source, doc.title, doc.kind, doc.content_hash, doc.source_hash, doc.metadata
                )
                transaction.put_document(entry, drafts, vectors[offset : offset + len(chunks)])
                offset += len(chunks)
        for doc, _ in ordered:
            round_.copied[doc.doc_id] = round_.fingerprints[doc.doc_id]
        with self._lock:
            self._done += offset


@dataclass(frozen=True)
class _Round:
    wanted: Mapping[str, StoredDocument]
    fingerprints: Mapping[str, Fingerprint]
    copied: dict[str, Fingerprint]


def _read_chunks(source: SiteStore, chunk_ids: Sequence[int]) -> list[StoredChunk]:
    try:
        return source.docstore.get_chunks(chunk_ids)
    except UnknownRecordError:
        # Some were deleted since the snapshot: keep the rest; their documents come out incomplete.
        found: list[StoredChunk] = []
        for chunk_id in chunk_ids:
            with contextlib.suppress(UnknownRecordError):
                found.extend(source.docstore.get_chunks([chunk_id]))
        return found


def _discard(spec: JobSpec, target: SiteStore) -> None:
    """Close a store that will not serve; a fresh one is deleted, a resumed (previous) one is kept."""
    with contextlib.suppress(Exception):
        target.close()
    if not spec.resume:
        shutil.rmtree(target.directory, ignore_errors=True)
