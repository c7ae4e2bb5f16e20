"""A site's search with the federation's BM25 statistics: which statistics apply, and what the search
reports back (docs/term-statistics.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from indexes import DocStore
from indexes.keyword_index import CorpusStats
from rag_fed.protocol import Candidates, HybridDepth, QueryTermStats, TermStatsUse
from rag_fed.site.search import RankedChunk
from rag_fed.types import Citation, Passage, SearchMode

__all__ = ["StatsSearch", "corpus_stats", "hybrid_depth", "passages_of"]


@dataclass(frozen=True)
class StatsSearch:
    """Passages, and what their keyword scores were computed with: ``term_stats`` (``None``: the query
    carried no statistics, or dense mode), the version of the keyword index searched, and in hybrid mode
    with statistics each ranking's scores down to the hybrid depth."""

    passages: list[Passage]
    term_stats: TermStatsUse | None
    version: str
    dense_depth: NDArray[np.float64] | None = None
    keyword_depth: NDArray[np.float64] | None = None
    candidates: Candidates | None = None


def corpus_stats(
    term_stats: QueryTermStats | None, version: str, mode: SearchMode
) -> tuple[CorpusStats | None, TermStatsUse | None]:
    """The statistics to score BM25 with (``None``: the site's own) and, when they cannot apply, why:
    ``stale`` when they count another version of this site's keyword index than ``version``."""
    if term_stats is None or mode == "dense":
        return None, None
    if term_stats.site_version != version:
        return None, "stale"
    stats = CorpusStats(term_stats.chunks, float(term_stats.tokens), term_stats.frequencies, term_stats.phrases)
    return stats, None


def hybrid_depth(searched: StatsSearch) -> HybridDepth | None:
    """The reply's ``hybrid_depth`` for a hybrid search with the federation's statistics, else ``None``."""
    if searched.term_stats != "global" or searched.dense_depth is None or searched.keyword_depth is None:
        return None
    # The site's own arrays (read-only, finite, at most HYBRID_DEPTH): not validated again, as from a peer.
    return HybridDepth.model_construct(dense=searched.dense_depth, keyword=searched.keyword_depth)


def text_only_for(passages: list[Passage], text_k: int | None) -> tuple[list[Passage], Candidates | None]:
    """A dense reply's passages cut to the best ``text_k`` (``SiteQuery.text_k``), the rest as candidates:
    chunk ids and cosines without text or citation, for the router to fetch if they make the global top k.
    ``None`` (or no more passages than that): all of them, no candidates."""
    if text_k is None or len(passages) <= text_k:
        return passages, None
    rest = passages[text_k:]
    scores = [p.score for p in rest]
    return passages[:text_k], Candidates.of([p.chunk_id for p in rest], scores, [math.nan] * len(rest))


def passages_of(site_id: str, docstore: DocStore, ranked: Sequence[RankedChunk]) -> list[Passage]:
    """The passages of ``ranked`` chunks of ``site_id``'s store, cited, in their order (rank 1 first)."""
    chunks = docstore.get_chunks([item.chunk_id for item in ranked])
    return [
        Passage(
            citation=Citation(
                site_id=site_id,
                doc_id=chunk.doc_id,
                title=chunk.title,
                section=chunk.section,
                page=chunk.page,
                lines=chunk.lines,
            ),
            chunk_id=chunk.chunk_id,
            text=chunk.text,
            score=item.score,
            rank=rank,
            dense_score=item.dense_score,
            keyword_score=item.keyword_score,
        )
        for rank, (chunk, item) in enumerate(zip(chunks, ranked, strict=True), start=1)
    ]
