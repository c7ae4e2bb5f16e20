"""Retrieval systems built from real sites (real FAISS, SQLite, the configured embedder and local model).

``centralized`` puts every document in one site: the pooled baseline federation is compared with.
``local-best`` gives each query to one site only, the one whose best passage is closest to the query
(what an engineer gets by asking a single factory's system, picked well, with no federation).
The federated configurations live in :mod:`eval.federated_systems`. Both answer, when given a model
factory, exactly as a site does: its local model writes from the site's own top passages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from connectors import Document, Section
from eval._records import EvalDoc
from eval._text import cited_doc_ids
from eval.systems import SystemAnswer, SystemResult
from rag_fed.config import Settings
from rag_fed.embedders.base import Embedder
from rag_fed.generators.base import Generator
from rag_fed.protocol import MAX_K
from rag_fed.site import Site
from rag_fed.types import Passage, SearchMode

__all__ = [
    "CentralizedSystem",
    "LocalBestSystem",
    "SystemSetup",
    "build_sites",
    "chunk_depth",
    "doc_ranking",
    "to_document",
]

CHUNK_DEPTH_FACTOR = 4
"""Chunks fetched per wanted document: a long document has several chunks in the ranking."""

GeneratorFactory = Callable[[], Generator]


@dataclass(frozen=True)
class SystemSetup:
    """What every configuration is built from.

    ``embedder`` embeds the queries (its time is the ``embed`` stage); ``index_embedder`` embeds the
    documents at indexing (e.g. an :class:`~eval.embedding_cache.CachingEmbedder` shared by all
    configurations; default: ``embedder``). ``generator_factory`` makes one model per site and one
    central model; ``None`` means the systems only retrieve. ``deadline_s`` is the router's deadline and
    ``central_max_tokens`` the central model's answer length; ``fusion_passages`` how many of each
    site's passages the central model is shown with that site's answer (both the gateway's defaults:
    the gateway asks sites for its default k, whatever depth the benchmark ranks to). ``site_answers``
    false is the gateway's fast path for the federated configurations: no site model runs, the central
    model answers from the fused passages.
    """

    settings: Settings
    embedder: Embedder
    mode: SearchMode = "dense"
    index_embedder: Embedder | None = None
    generator_factory: GeneratorFactory | None = None
    deadline_s: float = 300.0
    central_max_tokens: int = 300
    fusion_passages: int = 5
    site_answers: bool = True

    @property
    def documents_embedder(self) -> Embedder:
        """The embedder that indexes documents: ``index_embedder`` when given, else ``embedder``."""
        return self.index_embedder if self.index_embedder is not None else self.embedder


def chunk_depth(k: int) -> int:
    """Chunks every configuration asks for to rank ``k`` documents: ``4k``, capped at the protocol's
    ``MAX_K`` (a site returns at most that many), so that all configurations rank from equally deep lists."""
    return min(MAX_K, k * CHUNK_DEPTH_FACTOR)


def to_document(doc: EvalDoc, source: str) -> Document:
    metadata = {key: str(value) for key, value in doc.metadata.items()}
    return Document(
        source=source,
        title=doc.title or doc.doc_id,
        kind="manual",
        sections=(Section(text=doc.text),),
        key=doc.doc_id,
        metadata=metadata,
    )


def build_sites(
    docs_by_site: Mapping[str, Sequence[EvalDoc]],
    settings: Settings,
    embedder: Embedder,
    generator_factory: GeneratorFactory | None = None,
) -> dict[str, Site]:
    """Create one real site per entry under ``settings.data_dir``, ingest its documents and build its
    in-memory keyword index.

    With ``generator_factory`` each site gets its own model, as each site of a deployment has.
    """
    sites: dict[str, Site] = {}
    for site_id, docs in docs_by_site.items():
        Site.init(site_id, settings)
        generator = generator_factory() if generator_factory is not None else None
        site = Site.open(site_id, settings, embedder=embedder, generator=generator)
        result = site.ingest_documents(f"eval:{site_id}", [(d.doc_id, to_document(d, site_id)) for d in docs])
        if result.status == "failed":
            raise RuntimeError(f"could not index site {site_id}: {result.error}")
        # Every query ranked by the in-memory keyword index, none by FTS5 while it builds: same numbers
        # on every run.
        if not site.start_keyword_index(wait=None):
            raise RuntimeError(f"site {site_id}: the in-memory keyword index did not build (see the log)")
        sites[site_id] = site
    return sites


def doc_ranking(passages: Sequence[Passage], k: int) -> tuple[list[str], list[float]]:
    """Documents in the order of their best passage (chunk rankings -> document rankings)."""
    doc_ids: list[str] = []
    scores: list[float] = []
    for passage in passages:
        if passage.citation.doc_id not in doc_ids:
            doc_ids.append(passage.citation.doc_id)
            scores.append(passage.score)
        if len(doc_ids) == k:
            break
    return doc_ids, scores


def _with_answer_time(result: SystemResult, answer_ms: float) -> SystemResult:
    """``result`` with the site's answer time added to its stage timings."""
    return SystemResult(
        result.doc_ids,
        result.scores,
        {**result.timings_ms, "site_answer": answer_ms},
        sites_contacted=result.sites_contacted,
    )


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class _SiteSystem:
    def __init__(self, name: str, setup: SystemSetup) -> None:
        self._name = name
        self._setup = setup
        self._sites: dict[str, Site] = {}

    @property
    def name(self) -> str:
        return self._name

    def _build(self, docs_by_site: Mapping[str, Sequence[EvalDoc]]) -> None:
        setup = self._setup
        self._sites = build_sites(docs_by_site, setup.settings, setup.documents_embedder, setup.generator_factory)

    def _embed(self, query: str) -> tuple[NDArray[np.float32], float]:
        started = time.perf_counter()
        vector = self._setup.embedder.embed([query])[0]
        return vector, _ms_since(started)

    def _search_site(self, site: Site, query: str, vector: NDArray[np.float32], k: int) -> tuple[list[Passage], float]:
        started = time.perf_counter()
        passages = site.search(query, chunk_depth(k), self._setup.mode, query_vector=vector)
        return passages, _ms_since(started)

    def _answer_at(self, site: Site, query: str, passages: Sequence[Passage]) -> tuple[str, float]:
        """The site's local answer from its own top passages (as a site of the federation writes it)."""
        if self._setup.generator_factory is None:
            raise RuntimeError(f"{self._name} was built without a model; pass generator_factory to answer")
        started = time.perf_counter()
        answer = site.answer(query, passages=passages[: site.settings.search.answer_passages])
        return answer.answer, _ms_since(started)

    def close(self) -> None:
        for site in self._sites.values():
            site.close()
        self._sites.clear()


class CentralizedSystem(_SiteSystem):
    """Every document pooled into one site; its model answers from the pooled top passages."""

    def __init__(self, setup: SystemSetup) -> None:
        super().__init__("centralized", setup)

    def index(self, docs_by_site: Mapping[str, Sequence[EvalDoc]]) -> None:
        self._build({"central": [doc for docs in docs_by_site.values() for doc in docs]})

    def _retrieve(self, query: str, k: int) -> tuple[list[Passage], SystemResult]:
        vector, embed_ms = self._embed(query)
        passages, search_ms = self._search_site(self._sites["central"], query, vector, k)
        doc_ids, scores = doc_ranking(passages, k)
        timings = {"embed": embed_ms, "site_search": search_ms}
        return passages, SystemResult(doc_ids, scores, timings, sites_contacted=["central"])

    def search(self, query: str, k: int) -> SystemResult:
        return self._retrieve(query, k)[1]

    def answer(self, query: str, k: int) -> SystemAnswer:
        passages, result = self._retrieve(query, k)
        text, answer_ms = self._answer_at(self._sites["central"], query, passages)
        return SystemAnswer(_with_answer_time(result, answer_ms), text, cited_doc_ids(text))


class LocalBestSystem(_SiteSystem):
    """Each query answered by one site alone: the site whose best passage is closest to the query.

    Closeness is the dense cosine of the site's best passage in every search mode: hybrid (scaled per query) and
    keyword (BM25 on the site's own statistics) scores do not compare across sites, and RRF gives every
    site's first hit the same score. Choosing means searching every site (``site_search`` is their sum),
    so this is an upper bound on asking one site, not something a user without the federation could do.
    """

    def __init__(self, setup: SystemSetup) -> None:
        super().__init__("local-best", setup)

    def index(self, docs_by_site: Mapping[str, Sequence[EvalDoc]]) -> None:
        self._build(docs_by_site)

    def _retrieve(self, query: str, k: int) -> tuple[str, list[Passage], SystemResult]:
        vector, embed_ms = self._embed(query)
        started = time.perf_counter()
        best_site, best_score = "", float("-inf")
        for site_id, site in self._sites.items():
            nearest = site.search(query, 1, "dense", query_vector=vector)
            if nearest and nearest[0].score > best_score:
                best_site, best_score = site_id, nearest[0].score
        passages: list[Passage] = []
        if best_site:
            passages = self._sites[best_site].search(query, chunk_depth(k), self._setup.mode, query_vector=vector)
        search_ms = _ms_since(started)
        doc_ids, scores = doc_ranking(passages, k)
        contacted = [best_site] if best_site else []
        timings = {"embed": embed_ms, "site_search": search_ms}
        return best_site, passages, SystemResult(doc_ids, scores, timings, sites_contacted=contacted)

    def search(self, query: str, k: int) -> SystemResult:
        return self._retrieve(query, k)[2]

    def answer(self, query: str, k: int) -> SystemAnswer:
        best_site, passages, result = self._retrieve(query, k)
        if not best_site:
            return SystemAnswer(result, "", ())
        text, answer_ms = self._answer_at(self._sites[best_site], query, passages)
        return SystemAnswer(_with_answer_time(result, answer_ms), text, cited_doc_ids(text))
