"""A site's ranking of its chunks for one query: dense, keyword, or both fused (hybrid).

Each ranked chunk keeps the scores of its components (cosine, BM25) beside the score it is ranked by, so
that the router can rebuild one global dense and one global keyword ranking over all sites and fuse those,
as a central index would, instead of fusing the sites' already-fused lists (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from indexes import SiteStore
from rag_fed.fusion import fuse_reciprocal_rank
from rag_fed.types import SearchMode

__all__ = ["HYBRID_DEPTH", "RankedChunk", "rank_chunks"]

HYBRID_DEPTH = 50
"""How deep each ranking goes before hybrid fusion: RRF needs the candidates both rankings agree on."""


@dataclass(frozen=True)
class RankedChunk:
    """One chunk of a site's ranking: the score it is ranked by and its component scores."""

    chunk_id: int
    score: float
    dense_score: float | None = None
    keyword_score: float | None = None


def rank_chunks(
    store: SiteStore, question: str, vector: NDArray[np.float32] | None, k: int, mode: SearchMode
) -> list[RankedChunk]:
    """The best ``k`` chunks of ``store`` for the query, best first. ``vector`` is needed unless keyword."""
    if mode == "keyword":
        return [RankedChunk(cid, score, keyword_score=score) for cid, score in store.keyword_search(question, k)]
    if vector is None:
        raise ValueError(f"{mode} search needs the query vector")
    depth = max(k, HYBRID_DEPTH) if mode == "hybrid" else k
    scores, ids = store.search(np.asarray(vector, np.float32).reshape(1, -1), depth)
    dense = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
    if mode == "dense":
        return [RankedChunk(cid, score, dense_score=score) for cid, score in dense[:k]]
    keyword = store.keyword_search(question, depth)
    dense_scores, keyword_scores = dict(dense), dict(keyword)
    fused = fuse_reciprocal_rank([[cid for cid, _ in dense], [cid for cid, _ in keyword]])[:k]
    return [RankedChunk(cid, score, dense_scores.get(cid), keyword_scores.get(cid)) for cid, score in fused]
