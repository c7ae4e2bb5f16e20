"""Which sites to ask: all of them, or those whose sketch says they may hold an answer.

The federation is searched like an IVF index whose lists live at the sites: the query's nearest
centroids, over all sites, point at the chunks most likely to rank high. ``cover_chunks`` asks the
owners of the nearest centroids until those centroids hold that many chunks (an IVF ``nprobe`` counted in
chunks, so one site's big cluster counts for more than a small one). ``score_margin`` asks every site
whose best centroid is within that cosine of the best site's. Measured on Cranfield split over 10 topic
sites (bench/query.py): both keep about 98% of centralized nDCG@10 at about a fifth of the sites; the
chunk cover is the steadier of the two across splits. Over 100 smaller topic sites the same cover asks
about six and keeps 0.94, and caps keep less (bench/selection_scale.py; docs/benchmarks.md). The router
keeps the sketches' centroids stacked between questions (``SketchScorer``): one product and one sort a
question, 1.7-1.9x less time than one product per site from 30 sites on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field, PositiveInt

from rag_fed.memo import BoundedMemo
from rag_fed.protocol import SiteQuery
from rag_fed.router.sketch import SiteSketch, centroid_sizes

__all__ = [
    "RoutingPolicy",
    "SketchScorer",
    "SketchScores",
    "StackedSketches",
    "choose_by_sketch",
    "score_sites",
    "with_text_k",
]


class RoutingPolicy(BaseModel):
    """How sites are chosen and how long they get.

    ``selection="sketch"`` keeps the scored sites that pass every rule that is set, best first:
    ``min_score`` (best centroid cosine at least this), ``score_margin`` (within this of the best site),
    ``cover_chunks`` (owners of the nearest centroids until they hold this many chunks), then at most
    ``max_sites``. ``score_margin`` and ``cover_chunks`` always keep the best site. Sites without a
    usable sketch are always asked: nothing says they are irrelevant. With no rule set, all are asked.
    """

    deadline_s: float = Field(default=15.0, gt=0)  # measured: docs/architecture.md, "One deadline per query"
    straggler_grace_s: float | None = Field(
        default=2.0,
        gt=0,
        description="Once one site answered, wait at most this long for the others (evidence only; not when "
        "the sites' models phrase answers). None: wait for every site up to the deadline.",
    )
    selection: Literal["all", "sketch"] = "all"
    max_sites: PositiveInt | None = None
    min_score: float | None = Field(default=None, ge=-1.0, le=1.0)
    score_margin: float | None = Field(default=None, ge=0.0, le=2.0)
    cover_chunks: PositiveInt | None = None
    text_share: float | None = Field(
        default=None,
        gt=0,
        description="Dense search without an answer, several sites asked: each site sends the text of its best "
        "ceil(text_share * k / sites asked) passages only, the rest of its top k as chunk ids and cosines; the "
        "router fetches the text of those that make the global top k (same result, fewer bytes). None: all text.",
    )
    failure_threshold: PositiveInt = 3
    cooldown_s: float = Field(default=30.0, gt=0)
    term_stats: bool = Field(
        default=True,
        description="Send keyword and hybrid queries the federation's BM25 statistics, from the counts the "
        "sites publish (docs/term-statistics.md); false: every site scores with its own.",
    )


class SketchScores(dict[str, float]):
    """Each scored site's best centroid cosine (what the router reports), plus ``chunks_ahead``: how
    many chunks, over all scored sites, sit in centroids strictly closer to the query than this site's
    best one. A site is reached by a chunk cover of ``M`` exactly when its ``chunks_ahead < M``."""

    def __init__(self, scores: Mapping[str, float], chunks_ahead: Mapping[str, float]) -> None:
        super().__init__(scores)
        self.chunks_ahead: dict[str, float] = dict(chunks_ahead)

    def update_from(self, other: SketchScores) -> None:
        self.update(other)
        self.chunks_ahead.update(other.chunks_ahead)


def score_sites(
    query: NDArray[np.float32],
    embedder_version: str,
    sketches: Mapping[str, SiteSketch],
    candidates: Sequence[str],
) -> SketchScores:
    """Each candidate's sketch score; sites without a sketch of this embedder version get none."""
    return StackedSketches(sketches, embedder_version, candidates).scores(query)


class StackedSketches:
    """The centroids of the candidates' sketches of one embedder version in one matrix, built once and
    kept while the sketches do not change (the router keeps it), so scoring a question is one product
    and one sort, whatever the number of sites: building the matrix per question (a copy of every
    centroid) measured slower than one product per site (bench/selection_scale.py --cost)."""

    def __init__(self, sketches: Mapping[str, SiteSketch], embedder_version: str, candidates: Sequence[str]) -> None:
        by_dim: dict[int, list[tuple[str, SiteSketch]]] = {}
        for site_id in candidates:
            sketch = sketches.get(site_id)
            if sketch is None or sketch.embedder_version != embedder_version or sketch.centroids is None:
                continue
            if len(sketch.centroids):
                by_dim.setdefault(sketch.centroids.shape[1], []).append((site_id, sketch))
        self._stacks = {dim: _Stack(group) for dim, group in by_dim.items()}

    def scores(self, query: NDArray[np.float32]) -> SketchScores:
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        stack = self._stacks.get(vector.shape[0])  # a sketch of another dimension is not scored
        if stack is None:
            return SketchScores({}, {})
        return stack.scores(vector / max(float(np.linalg.norm(vector)), 1e-12))


class SketchScorer:
    """``score_sites`` with the stacked sketches kept between questions (cleared when a sketch changes)."""

    _KEPT = 16  # sets of candidates (questions restricted to a few sites make their own)

    def __init__(self) -> None:
        self._stacked: BoundedMemo[tuple[str, tuple[str, ...]], StackedSketches] = BoundedMemo(self._KEPT)

    def scores(
        self,
        query: NDArray[np.float32],
        embedder_version: str,
        sketches: Mapping[str, SiteSketch],
        candidates: Sequence[str],
    ) -> SketchScores:
        key = (embedder_version, tuple(candidates))
        stacked = self._stacked.get(key)
        if stacked is None:
            stacked = self._stacked.put(key, StackedSketches(sketches, embedder_version, candidates))
        return stacked.scores(query)

    def clear(self) -> None:
        self._stacked.clear()


class _Stack:
    def __init__(self, group: Sequence[tuple[str, SiteSketch]]) -> None:
        self.site_ids = [site_id for site_id, _ in group]
        parts = [sketch.centroids for _, sketch in group if sketch.centroids is not None]
        self.centroids = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
        self.sizes = np.concatenate([centroid_sizes(sketch) for _, sketch in group])
        self.starts = np.cumsum([0] + [len(part) for part in parts[:-1]])

    def scores(self, vector: NDArray[np.float32]) -> SketchScores:
        # einsum's own loop, not BLAS: a product this size (1,600 x 384 at 100 sites) makes OpenBLAS start
        # its threads, and on two busy cores waiting for them measured milliseconds (--cost, load 7).
        similarities = np.einsum("ij,j->i", self.centroids, vector)
        best = np.maximum.reduceat(similarities, self.starts)
        # The chunks strictly closer than each site's best centroid from one sort (suffix sums of the sizes),
        # not one pass over every centroid per site: at 100 sites that pass was most of the cost of choosing.
        order = np.argsort(similarities, kind="stable")
        cumulative = np.concatenate([[0.0], np.cumsum(self.sizes[order])])
        ahead = cumulative[-1] - cumulative[np.searchsorted(similarities[order], best, side="right")]
        best_values, ahead_values = best.tolist(), ahead.tolist()
        return SketchScores(
            dict(zip(self.site_ids, best_values, strict=True)), dict(zip(self.site_ids, ahead_values, strict=True))
        )


def choose_by_sketch(scores: Mapping[str, float], candidates: Sequence[str], policy: RoutingPolicy) -> set[str]:
    """The best-scoring sites that pass the policy's rules, plus every unscored site.

    ``cover_chunks`` needs the ``chunks_ahead`` of :class:`SketchScores`; with plain scores it is not
    applied (nothing is known about cluster sizes).
    """
    unscored = {site_id for site_id in candidates if site_id not in scores}
    ranked = sorted((site_id for site_id in candidates if site_id in scores), key=lambda site_id: -scores[site_id])
    if not ranked:
        return unscored
    best = ranked[0]
    if policy.min_score is not None:
        ranked = [site_id for site_id in ranked if scores[site_id] >= policy.min_score]
    if policy.score_margin is not None:
        floor = scores[best] - policy.score_margin
        ranked = [site_id for site_id in ranked if scores[site_id] >= floor]
    if policy.cover_chunks is not None and isinstance(scores, SketchScores):
        cover = policy.cover_chunks
        ranked = [site_id for site_id in ranked if site_id == best or scores.chunks_ahead[site_id] < cover]
    if policy.max_sites is not None:
        ranked = ranked[: policy.max_sites]
    return unscored | set(ranked)


def with_text_k(query: SiteQuery, sites_asked: int, text_share: float | None) -> SiteQuery:
    """``query`` asking each site for the text of its best ``text_share`` of a fair share of the top k
    (``RoutingPolicy.text_share``; ``SiteQuery.text_k``), when that is fewer than k; else ``query``."""
    if text_share is None or sites_asked < 2 or query.mode != "dense" or query.want_answer or query.fetch:
        return query
    text_k = max(1, math.ceil(text_share * query.k / sites_asked))
    return query.model_copy(update={"text_k": text_k}) if text_k < query.k else query
