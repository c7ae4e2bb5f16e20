"""Merging the sites' rankings into one, as one central index over the same chunks would rank them.

Dense: no site embeds the question itself; each ranks its chunks by the inner product of the
gateway's query vector with vectors of the same embedder version, so scores from different sites are on
one scale. A chunk in the global top-k has fewer than k better chunks anywhere, hence fewer than k in its
own site, so it is in its site's top-k: sorting the union of the sites' top-k by score gives exactly the
top-k of one central exact index over the same chunks (same set, same order up to ties).

Keyword: the union is sorted by each site's BM25 score. With the federation's term statistics
(docs/term-statistics.md) every site's BM25 is a central index's, and the argument above makes the merge
exact; a site that scored with its own statistics (it has not published, or its counts were stale) makes
it an approximation, which the result reports.

Hybrid: each passage carries its component scores (cosine, BM25). The router rebuilds one global dense
ranking (exact, as above) and one global keyword ranking from the union, then fuses those two as a
central index's hybrid search does (``fuse_min_max`` over each ranking's best ``HYBRID_DEPTH``: scaled
to [0, 1], equal weights). A chunk of the central dense top 100 is in its site's dense top 100 but not
necessarily among the passages its site returned, so this is close to the central fusion, not equal;
unless every site scored with the federation's statistics and sent its two rankings' scores down to the
hybrid depth (``depths``): then the scaling bounds (each global ranking's best and 100th score) are the
central index's exactly, and so is every returned passage's fused score.
Fusing the sites' own hybrid lists by RRF instead gives every site's first hit the same score and
interleaves sites whatever their scores; that lost up to a third of nDCG@10 when one site held most of
the answers.

When the sites serve different embedder versions (mid-rollout), or a reply lacks component scores,
scores are not on one scale and the sites' rankings are fused by RRF, which needs no calibration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from rag_fed.fusion import HYBRID_DEPTH, fuse_min_max, fuse_reciprocal_rank
from rag_fed.protocol import HybridDepth
from rag_fed.types import Passage, SearchMode

__all__ = ["merge_passages"]

PassageKey = tuple[str, int]


def merge_passages(
    rankings: Mapping[str, Sequence[Passage]],
    k: int,
    mode: SearchMode,
    versions: Mapping[str, str] | None = None,
    depths: Mapping[str, HybridDepth | None] | None = None,
) -> list[Passage]:
    """Top ``k`` passages over all sites, re-ranked 1..k. ``rankings`` maps site id to its best-first list;
    ``versions`` the embedder version each site's ranking came from (more than one: fused by RRF);
    ``depths`` each site's scores down to the hybrid depth, when it sent them (hybrid mode, exact scaling).

    Ties (equal scores) are broken by site order in ``rankings`` then by each site's rank, so the
    result is deterministic.
    """
    mixed = versions is not None and len({versions.get(site_id) for site_id in rankings}) > 1
    by_key: dict[PassageKey, Passage] = {}
    ordered: list[list[PassageKey]] = []
    for site_id, passages in rankings.items():
        keys = []
        for passage in sorted(passages, key=lambda p: p.rank):
            key = (site_id, passage.chunk_id)
            by_key.setdefault(key, passage)
            keys.append(key)
        ordered.append(keys)
    position = {key: (site, rank) for site, keys in enumerate(ordered) for rank, key in enumerate(keys)}
    exact = mode == "hybrid" and bool(rankings) and depths is not None and all(depths.get(site) for site in rankings)
    if exact and not mixed and depths is not None:
        scored = _fuse_at_depth(by_key, position, [d for site in rankings if (d := depths[site]) is not None])
    else:
        scored = None if mixed else _fuse_by_scores(by_key, position, mode)
    if scored is None:
        scored = fuse_reciprocal_rank(ordered)
    scored = scored[:k]
    return [
        by_key[key].model_copy(update={"rank": rank, "score": score})
        for rank, (key, score) in enumerate(scored, start=1)
    ]


def _fuse_by_scores(
    by_key: Mapping[PassageKey, Passage], position: Mapping[PassageKey, tuple[int, int]], mode: SearchMode
) -> list[tuple[PassageKey, float]] | None:
    """The global ranking from the component scores, or ``None`` when a passage lacks the ones needed."""
    passages = by_key.values()
    if mode == "dense":
        return _by_score(by_key, position, lambda p: p.score)
    if mode == "keyword":
        if any(p.keyword_score is None for p in passages):
            return None
        return _by_score(by_key, position, lambda p: p.keyword_score)
    if any(p.dense_score is None and p.keyword_score is None for p in passages):
        return None
    # Each global ranking cut where a central index cuts its own, so that both scale over the same depth.
    dense = _by_score(by_key, position, lambda p: p.dense_score)[:HYBRID_DEPTH]
    keyword = _by_score(by_key, position, lambda p: p.keyword_score)[:HYBRID_DEPTH]
    return fuse_min_max([dense, keyword])


def _fuse_at_depth(
    by_key: Mapping[PassageKey, Passage], position: Mapping[PassageKey, tuple[int, int]], depths: Sequence[HybridDepth]
) -> list[tuple[PassageKey, float]] | None:
    """``fuse_min_max`` of the central dense and keyword rankings, each scaled over its best
    ``HYBRID_DEPTH`` scores as the sites report them: a passage outside a ranking's global depth adds 0."""
    if any(p.dense_score is None and p.keyword_score is None for p in by_key.values()):
        return None
    bounds = [_bounds(np.concatenate([d.dense for d in depths])), _bounds(np.concatenate([d.keyword for d in depths]))]
    scores: dict[PassageKey, float] = {}
    for key, passage in by_key.items():
        total = 0.0
        for (low, high), score in zip(bounds, (passage.dense_score, passage.keyword_score), strict=True):
            if score is not None and score >= low:
                total += 0.5 * ((score - low) / (high - low) if high > low else 1.0)
        scores[key] = total
    return sorted(scores.items(), key=lambda item: (-item[1], position[item[0]]))


def _bounds(scores: NDArray[np.float64]) -> tuple[float, float]:
    """``(HYBRID_DEPTH-th best, best)`` of the sites' scores; both +inf when there are none (no passage is in)."""
    if not scores.size:
        return math.inf, math.inf
    best = np.sort(scores)[::-1][:HYBRID_DEPTH]
    return float(best[-1]), float(best[0])


def _by_score(
    by_key: Mapping[PassageKey, Passage],
    position: Mapping[PassageKey, tuple[int, int]],
    score_of: Callable[[Passage], float | None],
) -> list[tuple[PassageKey, float]]:
    """Keys whose passage has a score, best first; ties broken by site order then site rank."""
    scored = [(key, score) for key in by_key if (score := score_of(by_key[key])) is not None]
    return sorted(scored, key=lambda item: (-item[1], position[item[0]]))
