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

Ties (equal scores) are broken by a stable key, the one every site breaks its own ties by: document id,
then the chunk's place in its document (``tie_key``), then the site. Sections that repeat the same text
at several sites then come in the order a central index gives them, whatever the order of the sites.
A candidate (hybrid) travels without its document id: when one is tied at the ``k``-th place, the
merge keeps the whole tie and the router orders and cuts it once the candidates are fetched
(``term_stats.fill_candidates``). Candidates stay arrays until the merge knows which can reach the top
``k``; only those become passages.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from rag_fed.fusion import HYBRID_DEPTH, fuse_min_max, fuse_reciprocal_rank
from rag_fed.protocol import Candidates, HybridDepth
from rag_fed.types import Citation, Passage, SearchMode

__all__ = ["merge_passages", "order_ties", "tie_key"]

PassageKey = tuple[str, int]


def tie_key(passage: Passage) -> tuple[str, str, int]:
    """How passages of equal score are ordered: document id, then site, then chunk id. Within one
    document of one site chunk ids ascend with the chunk's ordinal (a document's chunks are written in
    order, in one transaction), so this is the sites' own key, (document id, ordinal), across sites."""
    return (passage.citation.doc_id, passage.citation.site_id, passage.chunk_id)


def order_ties(passages: Sequence[Passage]) -> list[Passage]:
    """``passages`` (best first) with each run of equal scores in ``tie_key`` order, re-ranked 1..n."""
    ordered = sorted(passages, key=lambda p: (-p.score, tie_key(p)))
    return [p.model_copy(update={"rank": rank}) for rank, p in enumerate(ordered, start=1)]


def merge_passages(
    rankings: Mapping[str, Sequence[Passage]],
    k: int,
    mode: SearchMode,
    versions: Mapping[str, str] | None = None,
    depths: Mapping[str, HybridDepth | None] | None = None,
    candidates: Mapping[str, Candidates] | None = None,
) -> list[Passage]:
    """Top ``k`` passages over all sites, re-ranked 1..k. ``rankings`` maps site id to its best-first list;
    ``versions`` the embedder version each site's ranking came from (more than one: fused by RRF);
    ``depths`` each site's scores down to the hybrid depth, when it sent them (hybrid mode, exact scaling);
    ``candidates`` the chunks beyond its top ``k`` a site sent with them (``SiteReply.candidates``).

    A candidate that makes the top ``k`` comes back as a passage without text or document id
    (``is_stub``), for the caller to fetch. Ties (equal scores) are broken by ``tie_key``, so the result
    does not depend on the order of the sites; when a candidate is tied at the ``k``-th place, the whole
    tie is kept (more than ``k`` passages) for the caller to order and cut once it is fetched.
    """
    mixed = versions is not None and len({versions.get(site_id) for site_id in rankings}) > 1
    by_key: dict[PassageKey, Passage] = {}
    ordered: dict[str, list[PassageKey]] = {}
    for site_id, passages in rankings.items():
        keys = ordered[site_id] = []
        for passage in sorted(passages, key=lambda p: p.rank):
            key = (site_id, passage.chunk_id)
            by_key.setdefault(key, passage)
            keys.append(key)
    exact = mode == "hybrid" and bool(rankings) and depths is not None and all(depths.get(site) for site in rankings)
    sent = {site: found for site, found in (candidates or {}).items() if site in rankings and len(found)}
    scored: list[tuple[PassageKey, float]] | None = None
    if exact and not mixed and depths is not None and not _lacking_scores(by_key):
        bounds = _global_bounds([d for site in rankings if (d := depths[site]) is not None])
        scored = _fuse_at_depth(by_key, ordered, sent, bounds, k)
    else:
        for site_id, found in sent.items():
            _add_stubs(by_key, ordered[site_id], site_id, found, k, range(len(found)))
        scored = None if mixed else _fuse_by_scores(by_key, mode)
    if scored is None:
        scored = fuse_reciprocal_rank(list(ordered.values()))
    scored = sorted(_best(scored, k), key=lambda item: (-item[1], tie_key(by_key[item[0]])))
    if len(scored) > k and any(_is_stub(by_key[key]) for key, score in scored if score == scored[k - 1][1]):
        scored = [item for index, item in enumerate(scored) if index < k or item[1] == scored[k - 1][1]]
    else:
        scored = scored[:k]
    return [
        by_key[key].model_copy(update={"rank": rank, "score": score})
        for rank, (key, score) in enumerate(scored, start=1)
    ]


def _add_stubs(
    by_key: dict[PassageKey, Passage],
    keys: list[PassageKey],
    site_id: str,
    found: Candidates,
    k: int,
    wanted: Sequence[int],
) -> list[PassageKey]:
    """The ``wanted`` candidates (positions in ``found``) of a site as passages without text (``is_stub``),
    ranked after its top ``k``; their keys."""
    added = []
    for number in wanted:
        key = (site_id, int(found.ids[number]))
        by_key.setdefault(
            key,
            Passage(
                citation=Citation(site_id=site_id, doc_id="", title=""),
                chunk_id=key[1],
                text="",
                score=_present(found.dense[number]) or 0.0,  # a dense ranking's stub ranks by its cosine
                rank=k + number + 1,
                dense_score=_present(found.dense[number]),
                keyword_score=_present(found.keyword[number]),
            ),
        )
        keys.append(key)
        added.append(key)
    return added


def _present(score: np.float64) -> float | None:
    return None if math.isnan(score) else float(score)


def _fuse_by_scores(by_key: Mapping[PassageKey, Passage], mode: SearchMode) -> list[tuple[PassageKey, float]] | None:
    """The global ranking from the component scores, or ``None`` when a passage lacks the ones needed."""
    passages = by_key.values()
    if mode == "dense":  # unordered: the caller orders the best k
        return [(key, passage.score) for key, passage in by_key.items()]
    if mode == "keyword":
        if any(p.keyword_score is None for p in passages):
            return None
        return _scores(by_key, lambda p: p.keyword_score)
    if any(p.dense_score is None and p.keyword_score is None for p in passages):
        return None
    # Each global ranking cut where a central index cuts its own, so that both scale over the same depth.
    dense = _by_score(by_key, lambda p: p.dense_score, HYBRID_DEPTH)
    keyword = _by_score(by_key, lambda p: p.keyword_score, HYBRID_DEPTH)
    return fuse_min_max([dense, keyword])


def _lacking_scores(by_key: Mapping[PassageKey, Passage]) -> bool:
    return any(p.dense_score is None and p.keyword_score is None for p in by_key.values())


Bounds = tuple[tuple[float, float], tuple[float, float]]
"""(low, high) of the central dense ranking, then of the central keyword ranking."""


def _global_bounds(depths: Sequence[HybridDepth]) -> Bounds:
    """Each central ranking's (``HYBRID_DEPTH``-th best, best) score, from the sites' depths."""
    dense = _bounds(np.concatenate([d.dense for d in depths]))
    keyword = _bounds(np.concatenate([d.keyword for d in depths]))
    return dense, keyword


def _fuse_at_depth(
    by_key: dict[PassageKey, Passage],
    ordered: Mapping[str, list[PassageKey]],
    candidates: Mapping[str, Candidates],
    bounds: Bounds,
    k: int,
) -> list[tuple[PassageKey, float]]:
    """``fuse_min_max`` of the central dense and keyword rankings, each scaled over its best
    ``HYBRID_DEPTH`` scores as the sites report them: a passage outside a ranking's global depth adds 0.

    Candidates are scored from their arrays; only those that reach the ``k``-th best score of all
    (passages and candidates) become passages (``is_stub``): the others cannot be in the top ``k``, nor
    change it, nor be tied at its ``k``-th place."""
    scores = {key: _fused(passage.dense_score, passage.keyword_score, bounds) for key, passage in by_key.items()}
    reach = {
        site_id: [_fused(d, s, bounds) for d, s in zip(found.dense.tolist(), found.keyword.tolist(), strict=True)]
        for site_id, found in candidates.items()
    }
    kth = _nth_best([*scores.values(), *(score for fused in reach.values() for score in fused)], k)
    for site_id, fused in reach.items():
        wanted = [number for number, score in enumerate(fused) if score >= kth]
        added = _add_stubs(by_key, ordered[site_id], site_id, candidates[site_id], k, wanted)
        for key, number in zip(added, wanted, strict=True):
            scores.setdefault(key, fused[number])  # a key seen already keeps its passage, as in by_key
    return list(scores.items())


def _fused(dense: float | None, keyword: float | None, bounds: Bounds) -> float:
    """A chunk's central fused score from its two scores (``None`` or NaN: not in that ranking's depth)."""
    total = 0.0
    for (low, high), score in zip(bounds, (dense, keyword), strict=True):
        if score is not None and score >= low:  # False for NaN
            total += 0.5 * ((score - low) / (high - low) if high > low else 1.0)
    return total


def _is_stub(passage: Passage) -> bool:
    """A candidate sent without text or document id (``_add_stubs``)."""
    return not passage.citation.doc_id and not passage.text


def _bounds(scores: NDArray[np.float64]) -> tuple[float, float]:
    """``(HYBRID_DEPTH-th best, best)`` of the sites' scores; both +inf when there are none (no passage is in)."""
    if not scores.size:
        return math.inf, math.inf
    best = np.sort(scores)[::-1][:HYBRID_DEPTH]
    return float(best[-1]), float(best[0])


def _scores(
    by_key: Mapping[PassageKey, Passage], score_of: Callable[[Passage], float | None]
) -> list[tuple[PassageKey, float]]:
    """Keys whose passage has a score, with it, in no order."""
    return [(key, score) for key, passage in by_key.items() if (score := score_of(passage)) is not None]


def _by_score(
    by_key: Mapping[PassageKey, Passage],
    score_of: Callable[[Passage], float | None],
    depth: int,
) -> list[tuple[PassageKey, float]]:
    """The best ``depth`` keys whose passage has a score, best first; ties broken by ``tie_key``."""
    best = _best(_scores(by_key, score_of), depth)
    return sorted(best, key=lambda item: (-item[1], tie_key(by_key[item[0]])))[:depth]


def _best(scored: list[tuple[PassageKey, float]], n: int) -> list[tuple[PassageKey, float]]:
    """The items scoring at least the ``n``-th best score, in no order: all that a cut after the ``n``-th of
    the sorted list keeps, and every item tied with it. Sorting (with its tie keys) then touches about ``n``
    items instead of every site's passages: at 100 sites of 30 passages, 30 of 3,000."""
    if len(scored) <= n:
        return scored
    nth = _nth_best([score for _, score in scored], n)
    return [item for item in scored if item[1] >= nth]


def _nth_best(scores: list[float], n: int) -> float:
    """The ``n``-th best of ``scores``; -inf when there are fewer (every score reaches it)."""
    return heapq.nlargest(n, scores)[-1] if len(scores) >= n else -math.inf
