"""A site node: one factory's private index and local model (ingest, list, delete, search, answer)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import numpy as np
from numpy.typing import NDArray

from connectors import Document
from indexes import IndexStoreError, SiteStore, StoredDocument, UnknownRecordError
from indexes.term_counts import TermCounts
from rag_fed.answers.compose import AnswerComposer
from rag_fed.answers.evidence import CollectionRarity, EvidenceSelector
from rag_fed.config import AnswerStrategy, Settings
from rag_fed.embedders.base import Embedder
from rag_fed.errors import InputError, from_leaf_error
from rag_fed.generators import load_generator
from rag_fed.generators.base import Generator
from rag_fed.protocol import QueryTermStats, ReembedProgress
from rag_fed.site.ingest import FileResult, IngestPipeline, IngestReport
from rag_fed.site.layout import SiteLayout
from rag_fed.site.opening import init_site, open_store
from rag_fed.site.rarity import term_rarity
from rag_fed.site.reembed import ReembedJob
from rag_fed.site.search import HYBRID_DEPTH, RankedChunk, rank_chunks_with
from rag_fed.site.serving import Serving, StoreVersions, VectorSnapshot
from rag_fed.site.stats_search import StatsSearch, corpus_stats, passages_of
from rag_fed.site.versions import LEGACY_STORE, StoreRecord
from rag_fed.types import Evidence, Passage, SearchMode, SiteAnswer

__all__ = ["HYBRID_DEPTH", "Site", "VectorSnapshot"]


class Site:
    """One site's documents and models. Open it with :meth:`open`; create it with :meth:`init`.

    Thread-safe. The store that serves can be replaced by a re-embed for another embedder version
    (:meth:`start_reembed`, :meth:`rollback`): each operation uses one store and its embedder from start
    to end, writes (ingest, delete) hold the site's write lock, and a replaced store is closed once the
    last operation using it ends.
    """

    def __init__(
        self,
        layout: SiteLayout,
        settings: Settings,
        embedder: Embedder,
        store: SiteStore,
        generator: Generator | None = None,
        *,
        record: StoreRecord | None = None,
        previous: StoreRecord | None = None,
    ) -> None:
        self.layout = layout
        self.settings = settings
        record = record or StoreRecord(
            directory=LEGACY_STORE, embedder_version=embedder.model_version, model=settings.embedder.model
        )
        self._stores = StoreVersions(layout, settings, Serving(record, store, embedder), previous)
        self._generator = generator

    @property
    def site_id(self) -> str:
        return self.layout.site_id

    @property
    def embedder(self) -> Embedder:
        """The embedder of the store that serves now."""
        return self._stores.current.embedder

    @property
    def serving_version(self) -> str:
        """The embedder version of the store that serves queries now."""
        return self._stores.current.embedder.model_version

    @property
    def previous_version(self) -> str | None:
        """The version of the store a :meth:`rollback` returns to, if one is kept."""
        previous = self._stores.previous
        return previous.embedder_version if previous is not None else None

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def init(cls, site_id: str, settings: Settings) -> SiteLayout:
        """Create a site's data directory and key pair. Refuses to overwrite an existing site."""
        return init_site(site_id, settings)

    @classmethod
    def open(
        cls,
        site_id: str,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        rebuild: bool = False,
        read_only: bool = False,
    ) -> Site:
        """Open an existing site's store with the configured (or given) embedder.

        ``rebuild`` rebuilds the vector index from the committed vectors instead of loading its file
        (the repair for a corrupt vector file). ``read_only`` opens it beside the process that holds it
        for writing (a running site service): no lock is taken and nothing is written, ingest and
        delete raise, and without an ``embedder`` the model is loaded only when a query is embedded.
        A site that was never ingested into has nothing to read: ``NotFoundError``.
        """
        opened = open_store(site_id, settings, embedder=embedder, rebuild=rebuild, read_only=read_only)
        return cls(
            opened.layout,
            settings,
            opened.embedder,
            opened.store,
            generator,
            record=opened.record,
            previous=opened.previous,
        )

    def close(self) -> None:
        """Cancel a running re-embed (the serving store stays as it was), then close the store."""
        try:
            self._stores.close()
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
        with self._writing() as pipeline:
            return pipeline.ingest_paths(paths, on_file)

    def ingest_upload(self, name: str, data: bytes) -> FileResult:
        with self._writing() as pipeline:
            return pipeline.ingest_bytes(name, data)

    def ingest_documents(self, source: str, documents: Sequence[tuple[str, Document]]) -> FileResult:
        """Ingest in-memory documents under the given ids (used by the evaluation harness)."""
        with self._writing() as pipeline:
            return pipeline.ingest_documents(source, documents)

    def list_documents(self) -> list[StoredDocument]:
        with self._stores.use() as serving:
            return serving.store.docstore.list_documents()

    def has_document(self, doc_id: str) -> bool:
        """Whether the store that serves holds ``doc_id`` (one indexed lookup, not a listing)."""
        with self._stores.use() as serving:
            try:
                serving.store.docstore.get_document(doc_id)
            except UnknownRecordError:
                return False
            return True

    def delete_document(self, doc_id: str) -> int:
        """Delete a document's chunks, vectors and keyword entries; returns how many chunks went."""
        with self._stores.write_lock, self._stores.use() as serving:
            try:
                with serving.store.transaction() as transaction:
                    removed = transaction.delete_document(doc_id)
                serving.store.checkpoint()
            except (IndexStoreError, UnknownRecordError) as error:
                raise from_leaf_error(error) from error
        return len(removed)

    def delete_source(self, source: str) -> tuple[int, int]:
        """Delete every document ingested from ``source`` (a file's path, or ``upload:<name>``) in one
        transaction; returns (documents, chunks) removed. ``UnknownDocumentError`` if none came from it."""
        with self._stores.write_lock, self._stores.use() as serving:
            try:
                doc_ids = [doc.doc_id for doc in serving.store.docstore.list_documents(source=source)]
                if not doc_ids:
                    raise UnknownRecordError(f"no documents were ingested from source {source!r}")
                with serving.store.transaction() as transaction:
                    removed = sum(len(transaction.delete_document(doc_id)) for doc_id in doc_ids)
                serving.store.checkpoint()
            except (IndexStoreError, UnknownRecordError) as error:
                raise from_leaf_error(error) from error
        return len(doc_ids), removed

    def verify(self) -> list[str]:
        """Problems found between vectors, chunks and the keyword index (empty when consistent)."""
        with self._stores.use() as serving:
            return serving.store.verify()

    @property
    def chunk_count(self) -> int:
        with self._stores.use() as serving:
            return serving.store.count

    def start_keyword_index(self, wait: float | None = 0.0) -> bool:
        """Build the serving store's in-memory keyword index in the background now rather than at the first
        keyword query (services call it at start-up); ``wait`` as in ``SQLiteDocStore.start_keyword_index``."""
        with self._stores.use() as serving:
            return serving.store.docstore.start_keyword_index(wait)

    def vector_snapshot(self) -> VectorSnapshot:
        """Every committed vector of the serving store, with its embedder version (for the sketch)."""
        with self._stores.use() as serving:
            batches = [vectors for _, vectors in serving.store.docstore.iter_vectors()]
            dim = serving.embedder.dim
            matrix = np.concatenate(batches) if batches else np.zeros((0, dim), np.float32)
            return VectorSnapshot(serving.embedder.model_version, matrix.astype(np.float32, copy=False))

    # -- search and answer -----------------------------------------------------------------------

    def search(
        self,
        question: str,
        k: int | None = None,
        mode: SearchMode | None = None,
        query_vector: NDArray[np.float32] | None = None,
        *,
        embedder_version: str | None = None,
    ) -> list[Passage]:
        """The site's top ``k`` passages for ``question``, best first.

        ``query_vector`` lets the gateway's embedding be used as it is; ``embedder_version`` names the
        version it was made with, and a store of another version refuses it (``InputError``) rather
        than compare vectors of two embedders. Without a vector the question is embedded here.
        """
        return self.search_with_stats(question, k, mode, query_vector, embedder_version=embedder_version).passages

    def search_with_stats(
        self,
        question: str,
        k: int | None = None,
        mode: SearchMode | None = None,
        query_vector: NDArray[np.float32] | None = None,
        *,
        embedder_version: str | None = None,
        term_stats: QueryTermStats | None = None,
    ) -> StatsSearch:
        """``search``, with BM25 from the federation's ``term_stats`` when they count the serving store's
        current keyword index (``site_version`` equals ``term_stats_version``; else ``stale``)."""
        k = k or self.settings.search.top_k
        mode = mode or self.settings.search.mode
        with self._stores.use() as serving:
            store, serving_version = serving.store, serving.embedder.model_version
            if embedder_version is not None and embedder_version != serving_version:
                raise InputError(
                    f"embedder version mismatch: the query was embedded with {embedder_version!r}, site "
                    f"{self.site_id} serves {serving_version!r}; embed the question with the version it serves"
                )
            vector = None
            if mode != "keyword":
                vector = query_vector if query_vector is not None else serving.embedder.embed([question])[0]
            version = _term_stats_version(serving)
            stats, use = corpus_stats(term_stats, version, mode)
            ranking = rank_chunks_with(store, question, vector, k, mode, stats=stats)
            if stats is not None:
                use = "global" if ranking.global_stats else "unusable"
            passages = passages_of(self.site_id, store.docstore, ranking.chunks)
            return StatsSearch(passages, use, version, ranking.dense_depth, ranking.keyword_depth, ranking.candidates)

    def fetch_passages(self, chunk_ids: Sequence[int]) -> list[Passage]:
        """The passages of these chunks of the serving store (score 0; the asker holds their scores)."""
        with self._stores.use() as serving:
            try:
                return passages_of(
                    self.site_id, serving.store.docstore, [RankedChunk(int(cid), 0.0) for cid in chunk_ids]
                )
            except UnknownRecordError as error:
                raise from_leaf_error(error) from error

    @property
    def term_stats_version(self) -> str:
        """The version of the serving store's keyword index: its folder and ``keyword_seq``."""
        with self._stores.use() as serving:
            return _term_stats_version(serving)

    def phrase_counts(self, question: str) -> tuple[str, dict[str, int]]:
        """The chunks of the serving store holding each phrase of several tokens of ``question``."""
        with self._stores.use() as serving:
            return _term_stats_version(serving), serving.store.docstore.phrase_counts(question)

    def term_counts(self, *, max_terms: bool = False) -> tuple[str, TermCounts]:
        """The serving store's term counts and their version (``term_stats_version``), from one snapshot."""
        with self._stores.use() as serving:
            counts = serving.store.docstore.term_counts(max_terms=max_terms)
            return f"{serving.record.directory}@{counts.version}", counts

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = load_generator(self.settings.generator)
        return self._generator

    def evidence(
        self,
        question: str,
        passages: Sequence[Passage],
        query_vector: NDArray[np.float32] | None = None,
        term_stats: QueryTermStats | None = None,
    ) -> list[Evidence]:
        """The sentences and steps of ``passages`` that answer ``question``, best first (no model runs;
        the embedder of the serving store scores them, so ``query_vector`` must be of its version; terms
        weigh by their rarity in the federation's ``term_stats`` where they apply: ``term_rarity``)."""
        with self._stores.use() as serving:
            selector = EvidenceSelector(self.settings.answers.evidence, serving.embedder)
            rarity = term_rarity(serving.store.docstore, question, term_stats, _term_stats_version(serving))
            return selector.select(question, passages, query_vector, rarity)

    def term_rarity(self, question: str, term_stats: QueryTermStats | None = None) -> CollectionRarity:
        """How rare each of ``question``'s terms is here, or in the federation (``rag_fed.site.rarity``)."""
        with self._stores.use() as serving:
            return term_rarity(serving.store.docstore, question, term_stats, _term_stats_version(serving))

    def answer(
        self,
        question: str,
        passages: Sequence[Passage] | None = None,
        mode: SearchMode | None = None,
        strategy: AnswerStrategy | None = None,
    ) -> SiteAnswer:
        """This site's answer from its own top passages: evidence first, a model phrases only what the
        evidence supports (``strategy``, default ``settings.answers.strategy``); a refusal when the
        documents do not cover the question."""
        if passages is None:
            passages = self.search(question, self.settings.search.top_k, mode)
        chosen = strategy or self.settings.answers.strategy
        generator = self.generator if chosen != "extractive" else None
        composed = AnswerComposer(self.settings.answers, generator).compose(
            question, self.evidence(question, passages), sites=[self.site_id], strategy=chosen
        )
        return SiteAnswer(
            site_id=self.site_id,
            answer=composed.text,
            passages=list(passages),
            evidence=composed.evidence,
            model=composed.model,
        )

    # -- embedder versions -----------------------------------------------------------------------

    def start_reembed(self, embedder: Embedder, *, model: str | None = None) -> ReembedJob:
        """Re-embed every document for ``embedder`` in the background, then serve it (atomically).

        Queries, ingests and deletes go on meanwhile; changes committed during the re-embed are caught
        up before the switch. ``model`` is how the embedder is reloaded after a restart (``packaged`` or
        a model folder; a sentence-transformers embedder says it itself). Asking again for the version
        being built returns the running job, for the version served a finished one; another version
        while a job runs is refused (``InputError``). Back to the previous version, only the changes
        made since are embedded (the previous store is kept until the next switch or :meth:`prune`).
        """
        return self._stores.start_reembed(embedder, model)

    def rollback(self, embedder: Embedder | None = None) -> ReembedJob:
        """Go back: cancel a running re-embed (nothing switched yet), or catch the previous store up
        with the changes made since and switch to it, in the background.

        ``embedder`` is the previous store's embedder when its record cannot reload it. ``InputError``
        when there is nothing to go back to.
        """
        return self._stores.rollback(embedder)

    def reembed_status(self) -> ReembedProgress | None:
        """The running or last re-embed of this process (``None`` if none ran)."""
        return self._stores.status()

    def prune(self) -> list[Path]:
        """Delete the previous store (no rollback after this) and any leftover; returns the folders."""
        return self._stores.prune()

    @contextmanager
    def _writing(self) -> Iterator[IngestPipeline]:
        with self._stores.write_lock, self._stores.use() as serving:
            try:
                yield IngestPipeline(serving.store, serving.embedder, self.settings.ingest)
                serving.store.checkpoint()
            except IndexStoreError as error:
                raise from_leaf_error(error) from error


def _term_stats_version(serving: Serving) -> str:
    return f"{serving.record.directory}@{serving.store.docstore.keyword_seq}"
