"""Merging the sites' rankings into one: by cosine score for dense search, by RRF otherwise.

Dense: no site embeds the question itself; each ranks its chunks by the inner product of the
gateway's query vector with vectors of the same embedder version, so scores from different sites are on
one scale. A chunk in the global top-k has fewer than k better chunks anywhere, hence fewer than k in its
own site, so it is in its site's top-k: sorting the union of the sites' top-k by score gives exactly the
top-k of one central exact index over the same chunks (same set, same order up to ties). RRF would
not: it gives every site's first hit the same fused score, interleaving sites by rank whatever their
scores. Keyword (BM25 with per-site term statistics) and hybrid scores do not compare across sites, so
those modes use RRF, which needs no calibration. So does dense search when the sites serve different
embedder versions (mid-rollout): cosines of two embedders are on no common scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rag_fed.fusion import fuse_reciprocal_rank
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
    if mode == "dense" and not mixed:
        position = {key: (site, rank) for site, keys in enumerate(ordered) for rank, key in enumerate(keys)}
        best = sorted(by_key, key=lambda key: (-by_key[key].score, position[key]))[:k]
        scored = [(key, by_key[key].score) for key in best]
    else:
        scored = fuse_reciprocal_rank(ordered)[:k]
    return [
        by_key[key].model_copy(update={"rank": rank, "score": score})
        for rank, (key, score) in enumerate(scored, start=1)
    ]
