"""Retrieval systems built from real sites (real FAISS, SQLite, the configured embedder and local model).

``centralized`` puts every document in one site: the pooled baseline federation is compared with.
``local-best`` gives each query to one site only, the one whose best passage is closest to the query
(what an engineer gets by asking a single factory's system, picked well, with no federation).
The federated configurations live in :mod:`eval.federated_systems`. Both answer, when given a model
factory, exactly as a site does: its local model writes from the site's own top passages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from eval._records import EvalDoc
from eval._text import cited_doc_ids
from eval.systems import SystemAnswer, SystemResult
from rag_fed.answers.compose import ComposedAnswer
from rag_fed.answers.ranking import cited_source
from rag_fed.config import AnswerStrategy, Settings
from rag_fed.embedders.base import Embedder
from rag_fed.generators.base import Generator
from rag_fed.protocol import MAX_K
from rag_fed.site import Document, Section, Site
from rag_fed.types import Citation, Passage, SearchMode, SiteAnswer

__all__ = [
    "CentralizedSystem",
    "LocalBestSystem",
    "SystemSetup",
    "TopPassageSystem",
    "build_sites",
    "chunk_depth",
    "composed_answer",
    "doc_ranking",
    "site_answer",
    "sources",
    "to_document",
]

TOP_PASSAGE_WORDS = 60
"""The top-passage baseline quotes this many words: the baseline the answers issue measured (F1 0.61 on S10)."""

CHUNK_DEPTH_FACTOR = 4
"""Chunks fetched per wanted document: a long document has several chunks in the ranking."""

GeneratorFactory = Callable[[], Generator]


@dataclass(frozen=True)
class SystemSetup:
    """What every configuration is built from.

    ``embedder`` embeds the queries (its time is the ``embed`` stage); ``index_embedder`` embeds the
    documents at indexing (e.g. an :class:`~eval.embedding_cache.CachingEmbedder` shared by all
    configurations; default: ``embedder``). ``strategy`` is how answers are composed from evidence
    (``None``: the systems only retrieve); ``generator_factory`` makes one model per site and one central
    model for the strategies that use one. ``deadline_s`` is the router's deadline; ``site_answers``
    true has each federated site's local model phrase a checked answer over its evidence as well.
    ``answer_passages`` is how many passages a site composes from (the gateway's default k).
    """

    settings: Settings
    embedder: Embedder
    mode: SearchMode = "dense"
    index_embedder: Embedder | None = None
    generator_factory: GeneratorFactory | None = None
    strategy: AnswerStrategy | None = None
    deadline_s: float = 300.0
    answer_passages: int = 5
    site_answers: bool = False

    @property
    def answers_enabled(self) -> bool:
        """Whether the systems answer: a strategy is set, and a model exists when it needs one."""
        return self.strategy is not None and (self.strategy == "extractive" or self.generator_factory is not None)

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
        title=doc.title,
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

    def _embed(self, query: str, needed: bool = True) -> tuple[NDArray[np.float32] | None, dict[str, float]]:
        """The query's vector and the ``embed`` stage; neither when not ``needed`` (keyword search embeds
        nothing: a site's evidence, when answering, embeds the question itself)."""
        if not needed:
            return None, {}
        started = time.perf_counter()
        vector = self._setup.embedder.embed([query])[0]
        return vector, {"embed": _ms_since(started)}

    def _search_site(
        self, site: Site, query: str, vector: NDArray[np.float32] | None, k: int
    ) -> tuple[list[Passage], float]:
        started = time.perf_counter()
        passages = site.search(query, chunk_depth(k), self._setup.mode, query_vector=vector)
        return passages, _ms_since(started)

    def _answer_at(self, site: Site, query: str, passages: Sequence[Passage]) -> tuple[SiteAnswer, float]:
        """The site's own answer from its top passages (evidence, then what the strategy adds)."""
        if not self._setup.answers_enabled:
            raise RuntimeError(f"{self._name} was built without answers; set SystemSetup.strategy or a model")
        started = time.perf_counter()
        answer = site.answer(query, passages=passages[: self._setup.answer_passages], strategy=self._setup.strategy)
        return answer, _ms_since(started)

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
        vector, embedded = self._embed(query, needed=self._setup.mode != "keyword")
        passages, search_ms = self._search_site(self._sites["central"], query, vector, k)
        doc_ids, scores = doc_ranking(passages, k)
        timings = {**embedded, "site_search": search_ms}
        return passages, SystemResult(doc_ids, scores, timings, sites_contacted=["central"])

    def search(self, query: str, k: int) -> SystemResult:
        return self._retrieve(query, k)[1]

    def answer(self, query: str, k: int) -> SystemAnswer:
        passages, result = self._retrieve(query, k)
        answer, answer_ms = self._answer_at(self._sites["central"], query, passages)
        return site_answer(_with_answer_time(result, answer_ms), answer, passages)


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
        vector, embedded = self._embed(query)  # the site is chosen by dense cosine in every mode
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
        timings = {**embedded, "site_search": search_ms}
        return best_site, passages, SystemResult(doc_ids, scores, timings, sites_contacted=contacted)

    def search(self, query: str, k: int) -> SystemResult:
        return self._retrieve(query, k)[2]

    def answer(self, query: str, k: int) -> SystemAnswer:
        best_site, passages, result = self._retrieve(query, k)
        if not best_site:
            return SystemAnswer(result, "", (), refused=True)
        answer, answer_ms = self._answer_at(self._sites[best_site], query, passages)
        return site_answer(_with_answer_time(result, answer_ms), answer, passages)


class TopPassageSystem(CentralizedSystem):
    """The baseline every answer must beat: the first ``words`` words of the best pooled passage, no model."""

    def __init__(self, setup: SystemSetup, words: int = TOP_PASSAGE_WORDS) -> None:
        super().__init__(setup)
        self._name = "top-passage"
        self._words = words

    def answer(self, query: str, k: int) -> SystemAnswer:
        passages, result = self._retrieve(query, k)
        if not passages:
            return SystemAnswer(result, "", (), refused=True)
        best = passages[0]
        text = " ".join(best.text.split()[: self._words])
        return SystemAnswer(
            result,
            f"{text} {best.citation.label}",
            (best.citation.doc_id,),
            (best.text,),
            retrieved=sources(passage.citation for passage in passages),
        )


def sources(citations: Iterable[Citation]) -> list[tuple[str, str]]:
    """``(site, document)`` of each citation, once each, in order."""
    return list(dict.fromkeys((citation.site_id, citation.doc_id) for citation in citations))


def composed_answer(result: SystemResult, composed: ComposedAnswer, retrieved: Iterable[Citation]) -> SystemAnswer:
    """A system answer from a composed one: it cites the evidence it shows, by document; ``retrieved``
    are the citations of the passages retrieved for the question (what the answer may cite)."""
    cited = list(dict.fromkeys(citation.doc_id for citation in composed.citations))
    texts = [cited_source(item) for item in composed.evidence]
    return SystemAnswer(
        result,
        composed.text,
        cited,
        texts,
        composed.refused,
        retrieved=sources(retrieved),
        citations=sources(composed.citations),
    )


def site_answer(result: SystemResult, answer: SiteAnswer, retrieved: Iterable[Passage]) -> SystemAnswer:
    """A system answer from one site's own answer (its evidence is what it cites) over the ``retrieved``
    passages."""
    cited = list(dict.fromkeys([*(item.citation.doc_id for item in answer.evidence), *cited_doc_ids(answer.answer)]))
    texts = [cited_source(item) for item in answer.evidence]
    return SystemAnswer(
        result,
        answer.answer,
        cited,
        texts,
        refused=not answer.evidence,
        retrieved=sources(passage.citation for passage in retrieved),
        citations=sources(item.citation for item in answer.evidence),
    )
