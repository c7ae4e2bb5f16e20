"""Reciprocal rank fusion: merge rankings that have incomparable scores by rank alone.

Used twice: at a site to fuse its dense and keyword rankings (hybrid search), and at the router to fuse
the sites' own rankings. RRF needs no score calibration across sources, which is why both use it:
cosine scores from different indexes and BM25 scores from different term statistics do not compare.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

__all__ = ["RRF_K", "fuse_reciprocal_rank"]

RRF_K = 60
"""The constant of Cormack et al. (2009); it damps the weight of the very top ranks."""

Key = TypeVar("Key", bound=Hashable)


def fuse_reciprocal_rank(
    rankings: Sequence[Sequence[Key]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[Key, float]]:
    """Fuse best-first rankings into one, scoring each key ``sum(w / (k + rank))`` over the rankings.

    Ties are broken by first appearance (earlier ranking, then earlier rank), so the result is
    deterministic. ``weights`` (one per ranking, default 1.0) lets a caller favour one source.
    """
    if k <= 0:
        raise ValueError(f"rrf k must be positive, got {k}")
    if weights is not None and len(weights) != len(rankings):
        raise ValueError(f"got {len(weights)} weights for {len(rankings)} rankings")
    scores: dict[Key, float] = {}
    first_seen: dict[Key, int] = {}
    order = 0
    for index, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[index]
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
            if key not in first_seen:
                first_seen[key] = order
                order += 1
    return sorted(scores.items(), key=lambda item: (-item[1], first_seen[item[0]]))
