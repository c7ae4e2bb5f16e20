"""Retrieval systems built from real sites (real FAISS, SQLite and the configured embedder).

``centralized`` puts every document in one site: the pooled baseline federation is compared with.
``local-best`` gives each query to one site only, the one whose best passage scores highest (what an
engineer gets by asking a single factory's system, picked well, with no federation).
The federated configurations live in :mod:`eval.federated_systems`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from connectors import Document, Section
from eval._records import EvalDoc
from eval.systems import SystemResult
from rag_fed.config import Settings
from rag_fed.embedders.base import Embedder
from rag_fed.site import Site
from rag_fed.types import Passage, SearchMode

__all__ = ["CentralizedSystem", "LocalBestSystem", "build_sites", "doc_ranking", "to_document"]

CHUNK_DEPTH_FACTOR = 4
"""Chunks fetched per wanted document: a long document has several chunks in the ranking."""


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
    docs_by_site: Mapping[str, Sequence[EvalDoc]], settings: Settings, embedder: Embedder
) -> dict[str, Site]:
    """Create one real site per entry under ``settings.data_dir`` and ingest its documents."""
    sites: dict[str, Site] = {}
    for site_id, docs in docs_by_site.items():
        Site.init(site_id, settings)
        site = Site.open(site_id, settings, embedder=embedder)
        result = site.ingest_documents(f"eval:{site_id}", [(d.doc_id, to_document(d, site_id)) for d in docs])
        if result.status == "failed":
            raise RuntimeError(f"could not index site {site_id}: {result.error}")
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


class _SiteSystem:
    def __init__(self, name: str, settings: Settings, embedder: Embedder, mode: SearchMode) -> None:
        self._name = name
        self._settings = settings
        self._embedder = embedder
        self._mode = mode
        self._sites: dict[str, Site] = {}

    @property
    def name(self) -> str:
        return self._name

    def _embed(self, query: str) -> tuple[NDArray[np.float32], float]:
        started = time.perf_counter()
        vector = self._embedder.embed([query])[0]
        return vector, (time.perf_counter() - started) * 1000

    def _search_site(self, site: Site, query: str, vector: NDArray[np.float32], k: int) -> tuple[list[Passage], float]:
        started = time.perf_counter()
        passages = site.search(query, k * CHUNK_DEPTH_FACTOR, self._mode, query_vector=vector)
        return passages, (time.perf_counter() - started) * 1000

    def close(self) -> None:
        for site in self._sites.values():
            site.close()
        self._sites.clear()


class CentralizedSystem(_SiteSystem):
    """Every document pooled into one site."""

    def __init__(self, settings: Settings, embedder: Embedder, mode: SearchMode = "dense") -> None:
        super().__init__("centralized", settings, embedder, mode)

    def index(self, docs_by_site: Mapping[str, Sequence[EvalDoc]]) -> None:
        pooled = [doc for docs in docs_by_site.values() for doc in docs]
        self._sites = build_sites({"central": pooled}, self._settings, self._embedder)

    def search(self, query: str, k: int) -> SystemResult:
        vector, embed_ms = self._embed(query)
        passages, search_ms = self._search_site(self._sites["central"], query, vector, k)
        doc_ids, scores = doc_ranking(passages, k)
        return SystemResult(doc_ids, scores, {"embed": embed_ms, "site_search": search_ms}, sites_contacted=["central"])


class LocalBestSystem(_SiteSystem):
    """Each query answered by one site alone: the site whose top passage scores highest."""

    def __init__(self, settings: Settings, embedder: Embedder, mode: SearchMode = "dense") -> None:
        super().__init__("local-best", settings, embedder, mode)

    def index(self, docs_by_site: Mapping[str, Sequence[EvalDoc]]) -> None:
        self._sites = build_sites(docs_by_site, self._settings, self._embedder)

    def search(self, query: str, k: int) -> SystemResult:
        vector, embed_ms = self._embed(query)
        best_site, best_passages, best_score, total_ms = "", [], float("-inf"), 0.0
        for site_id, site in self._sites.items():
            passages, search_ms = self._search_site(site, query, vector, k)
            total_ms += search_ms
            if passages and passages[0].score > best_score:
                best_site, best_passages, best_score = site_id, passages, passages[0].score
        doc_ids, scores = doc_ranking(best_passages, k)
        contacted = [best_site] if best_site else []
        return SystemResult(doc_ids, scores, {"embed": embed_ms, "site_search": total_ms}, sites_contacted=contacted)
