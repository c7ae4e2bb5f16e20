"""Merging the sites' rankings into one, as one central index over the same chunks would rank them.

Dense: no site embeds the question itself; each ranks its chunks by the inner product of the
gateway's query vector with vectors of the same embedder version, so scores from different sites are on
one scale. A chunk in the global top-k has fewer than k better chunks anywhere, hence fewer than k in its
own site, so it is in its site's top-k: sorting the union of the sites' top-k by score gives exactly the
top-k of one central exact index over the same chunks (same set, same order up to ties).

Keyword: the union is sorted by each site's BM25 score. BM25 uses each site's own term statistics
(document frequencies, mean length), so this approximates the central ranking; docs/benchmarks.md
measures how closely.

Hybrid: each passage carries its component scores (cosine, BM25). The router rebuilds one global dense
ranking (exact, as above) and one global keyword ranking from the union, then fuses those two as a
central index's hybrid search does (``fuse_min_max`` over each ranking's best ``HYBRID_DEPTH``: scaled
to [0, 1], equal weights). A chunk of the central dense top 100 is in its site's dense top 100 but not
necessarily among the passages its site returned, so this is close to the central fusion, not equal.
Fusing the sites' own hybrid lists by RRF instead gives every site's first hit the same score and
interleaves sites whatever their scores; that lost up to a third of nDCG@10 when one site held most of
the answers.

When the sites serve different embedder versions (mid-rollout), or a reply lacks component scores,
scores are not on one scale and the sites' rankings are fused by RRF, which needs no calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from rag_fed.fusion import HYBRID_DEPTH, fuse_min_max, fuse_reciprocal_rank
from rag_fed.types import Passage, SearchMode

__all__ = ["merge_passages"]

PassageKey = tuple[str, int]


def merge_passages(
    rankings: Mapping[str, Sequence[Passage]],
    k: int,
    mode: SearchMode,
    versions: Mapping[str, str] | None = None,
) -> list[Passage]:
    """Top ``k`` passages over all sites, re-ranked 1..k. ``rankings`` maps site id to its best-first list;
    ``versions`` the embedder version each site's ranking came from (more than one: fused by RRF).

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


def _by_score(
    by_key: Mapping[PassageKey, Passage],
    position: Mapping[PassageKey, tuple[int, int]],
    score_of: Callable[[Passage], float | None],
) -> list[tuple[PassageKey, float]]:
    """Keys whose passage has a score, best first; ties broken by site order then site rank."""
    scored = [(key, score) for key in by_key if (score := score_of(by_key[key])) is not None]
    return sorted(scored, key=lambda item: (-item[1], position[item[0]]))
