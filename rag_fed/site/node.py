"""A site node: one factory's private index and local model (ingest, list, delete, search, answer)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import numpy as np
from numpy.typing import NDArray

from connectors import Document
from indexes import IndexStoreError, SiteStore, StoredDocument, UnknownRecordError
from rag_fed.config import Settings
from rag_fed.embedders import load_embedder
from rag_fed.embedders.base import Embedder
from rag_fed.errors import ConfigError, from_leaf_error
from rag_fed.fusion import fuse_reciprocal_rank
from rag_fed.generators import load_generator
from rag_fed.generators.base import Generator
from rag_fed.site.answer import answer_messages, resolve_citations
from rag_fed.site.ingest import FileResult, IngestPipeline, IngestReport
from rag_fed.site.layout import SiteLayout
from rag_fed.types import Citation, Passage, SearchMode, SiteAnswer

__all__ = ["HYBRID_DEPTH", "Site"]

HYBRID_DEPTH = 50
"""How deep each ranking goes before hybrid fusion: RRF needs the candidates both rankings agree on."""


class Site:
    """One site's documents and models. Open it with :meth:`open`; create it with :meth:`init`."""

    def __init__(
        self,
        layout: SiteLayout,
        settings: Settings,
        embedder: Embedder,
        store: SiteStore,
        generator: Generator | None = None,
    ) -> None:
        self.layout = layout
        self.settings = settings
        self.embedder = embedder
        self._store = store
        self._generator = generator

    @property
    def site_id(self) -> str:
        return self.layout.site_id

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def init(cls, site_id: str, settings: Settings) -> SiteLayout:
        """Create a site's data directory and key pair. Refuses to overwrite an existing site."""
        from rag_fed.crypto.keys import KeyPair  # the key code is only needed at creation

        layout = SiteLayout.for_site(settings.data_dir, site_id)
        if layout.exists():
            raise ConfigError(f"site {site_id!r} already exists at {layout.root}; pick another id")
        layout.store_dir.mkdir(parents=True, exist_ok=True)
        KeyPair.generate().save(layout.keys_dir)
        marker = {"site_id": site_id, "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
        layout.marker.write_text(json.dumps(marker, indent=2) + "\n")
        return layout

    @classmethod
    def open(
        cls,
        site_id: str,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        rebuild: bool = False,
    ) -> Site:
        """Open an existing site's store with the configured (or given) embedder.

        ``rebuild`` rebuilds the vector index from the committed vectors instead of loading its file
        (the repair for a corrupt vector file).
        """
        layout = SiteLayout.for_site(settings.data_dir, site_id).require()
        embedder = embedder or load_embedder(settings.embedder)
        try:
            store = SiteStore.open(
                layout.store_dir,
                embedder_version=embedder.model_version,
                dim=embedder.dim,
                embedder_name=settings.embedder.model,
                hnsw_threshold=settings.ingest.hnsw_threshold,
                site_id=site_id,
                force_rebuild=rebuild,
            )
        except IndexStoreError as error:
            raise from_leaf_error(error) from error
        return cls(layout, settings, embedder, store, generator)

    def close(self) -> None:
        try:
            self._store.close()
        except IndexStoreError as error:
            raise from_leaf_error(error) from error

    def __enter__(self) -> Site:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    # -- documents -------------------------------------------------------------------------------

    def ingest(self, paths: Sequence[Path], on_file: Callable[[FileResult], None] | None = None) -> IngestReport:
        """Ingest files and folders; a bad file is reported in the result and the rest carry on."""
        pipeline = IngestPipeline(self._store, self.embedder, self.settings.ingest)
        try:
            report = pipeline.ingest_paths(paths, on_file)
            self._store.checkpoint()
        except IndexStoreError as error:
            raise from_leaf_error(error) from error
        return report

    def ingest_upload(self, name: str, data: bytes) -> FileResult:
        pipeline = IngestPipeline(self._store, self.embedder, self.settings.ingest)
        try:
            result = pipeline.ingest_bytes(name, data)
            self._store.checkpoint()
        except IndexStoreError as error:
            raise from_leaf_error(error) from error
        return result

    def ingest_documents(self, source: str, documents: Sequence[tuple[str, Document]]) -> FileResult:
        """Ingest in-memory documents under the given ids (used by the evaluation harness)."""
        pipeline = IngestPipeline(self._store, self.embedder, self.settings.ingest)
        try:
            result = pipeline.ingest_documents(source, documents)
            self._store.checkpoint()
        except IndexStoreError as error:
            raise from_leaf_error(error) from error
        return result

    def list_documents(self) -> list[StoredDocument]:
        return self._store.docstore.list_documents()

    def delete_document(self, doc_id: str) -> int:
        """Delete a document's chunks, vectors and keyword entries; returns how many chunks went."""
        try:
            with self._store.transaction() as transaction:
                removed = transaction.delete_document(doc_id)
            self._store.checkpoint()
        except (IndexStoreError, UnknownRecordError) as error:
            raise from_leaf_error(error) from error
        return len(removed)

    def verify(self) -> list[str]:
        """Problems found between vectors, chunks and the keyword index (empty when consistent)."""
        return self._store.verify()

    @property
    def chunk_count(self) -> int:
        return self._store.count

    # -- search and answer -----------------------------------------------------------------------

    def search(
        self,
        question: str,
        k: int | None = None,
        mode: SearchMode | None = None,
        query_vector: NDArray[np.float32] | None = None,
    ) -> list[Passage]:
        """The site's top ``k`` passages for ``question``, best first.

        ``query_vector`` lets the gateway's embedding be used as it is (it was made with the same
        embedder version); otherwise the question is embedded here.
        """
        k = k or self.settings.search.top_k
        mode = mode or self.settings.search.mode
        if mode == "keyword":
            ranked = self._store.keyword_search(question, k)
        else:
            vector = query_vector if query_vector is not None else self.embedder.embed([question])[0]
            depth = max(k, HYBRID_DEPTH) if mode == "hybrid" else k
            scores, ids = self._store.search(np.asarray(vector, np.float32).reshape(1, -1), depth)
            dense = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
            if mode == "dense":
                ranked = dense
            else:
                keyword = self._store.keyword_search(question, depth)
                fused = fuse_reciprocal_rank([[i for i, _ in dense], [i for i, _ in keyword]])
                ranked = fused[:k]
        return self._passages(ranked[:k])

    def _passages(self, ranked: Sequence[tuple[int, float]]) -> list[Passage]:
        chunks = self._store.docstore.get_chunks([chunk_id for chunk_id, _ in ranked])
        return [
            Passage(
                citation=Citation(
                    site_id=self.site_id,
                    doc_id=chunk.doc_id,
                    title=chunk.title,
                    section=chunk.section,
                    page=chunk.page,
                ),
                chunk_id=chunk.chunk_id,
                text=chunk.text,
                score=score,
                rank=rank,
            )
            for rank, (chunk, (_, score)) in enumerate(zip(chunks, ranked, strict=True), start=1)
        ]

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = load_generator(self.settings.generator)
        return self._generator

    def answer(
        self,
        question: str,
        passages: Sequence[Passage] | None = None,
        mode: SearchMode | None = None,
    ) -> SiteAnswer:
        """The local model's answer from this site's own top passages, with explicit citations."""
        if passages is None:
            passages = self.search(question, self.settings.search.answer_passages, mode)
        if not passages:
            return SiteAnswer(site_id=self.site_id, answer="This site has no documents that match.", model="")
        messages = answer_messages(self.site_id, question, passages)
        raw = self.generator.generate(messages, max_tokens=self.settings.search.answer_max_tokens)
        return SiteAnswer(
            site_id=self.site_id,
            answer=resolve_citations(raw, passages),
            passages=list(passages),
            model=self.generator.name,
        )
