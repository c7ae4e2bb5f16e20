"""Site selection by sketch: scores, the score margin, the chunk cover, caps, and sites without sketches."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from rag_fed.protocol import SiteQuery
from rag_fed.router import RoutingPolicy, SiteSketch
from rag_fed.router.selection import SketchScorer, SketchScores, choose_by_sketch, score_sites, with_text_k

pytestmark = pytest.mark.unit

DIM = 4


def _unit(*values: float) -> NDArray[np.float32]:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _sketch(site_id: str, rows: list[NDArray[np.float32]], sizes: list[int] | None, version: str = "v1") -> SiteSketch:
    return SiteSketch(
        site_id=site_id,
        embedder_version=version,
        chunk_count=sum(sizes) if sizes else 10 * len(rows),
        centroids=np.stack(rows),
        sizes=tuple(sizes) if sizes else None,
    )


QUERY = _unit(1, 0, 0, 0)
# cos to QUERY: a 1.0 (30 chunks) and 0.6 (5); b 0.8 (50); c 0.71 (10); d 0.0 (100).
SKETCHES = {
    "a": _sketch("a", [_unit(1, 0, 0, 0), _unit(0.6, 0.8, 0, 0)], [30, 5]),
    "b": _sketch("b", [_unit(0.8, 0, 0.6, 0)], [50]),
    "c": _sketch("c", [_unit(1, 0, 0, 1)], [10]),
    "d": _sketch("d", [_unit(0, 0, 0, 1)], [100]),
}
SITES = ["a", "b", "c", "d"]


def _choose(scores: SketchScores, **policy: object) -> set[str]:
    return choose_by_sketch(scores, SITES, RoutingPolicy.model_validate({"selection": "sketch", **policy}))


def test_scores_are_best_centroid_cosines_and_count_the_chunks_ahead() -> None:
    scores = score_sites(3 * QUERY, "v1", SKETCHES, SITES)  # the query need not be normalised
    assert scores == pytest.approx({"a": 1.0, "b": 0.8, "c": 0.7071, "d": 0.0}, abs=1e-4)
    # Strictly closer centroids, over every site: a's 30 before b; a's 30 + b's 50 before c; all but d's.
    assert scores.chunks_ahead == {"a": 0.0, "b": 30.0, "c": 80.0, "d": 95.0}


def test_margin_asks_the_sites_near_the_best_and_always_the_best() -> None:
    scores = score_sites(QUERY, "v1", SKETCHES, SITES)
    assert _choose(scores, score_margin=0.25) == {"a", "b"}
    assert _choose(scores, score_margin=0.3) == {"a", "b", "c"}
    assert _choose(scores, score_margin=0.0) == {"a"}
    assert _choose(scores) == set(SITES), "no rule set: everyone is asked"


def test_cover_walks_the_nearest_centroids_until_they_hold_enough_chunks() -> None:
    scores = score_sites(QUERY, "v1", SKETCHES, SITES)
    assert _choose(scores, cover_chunks=1) == {"a"}
    assert _choose(scores, cover_chunks=30) == {"a"}, "a's 30 chunks already cover 30"
    assert _choose(scores, cover_chunks=31) == {"a", "b"}
    assert _choose(scores, cover_chunks=81) == {"a", "b", "c"}
    assert _choose(scores, cover_chunks=81, max_sites=2) == {"a", "b"}
    assert _choose(scores, cover_chunks=81, score_margin=0.25) == {"a", "b"}, "rules combine"
    # Without cluster sizes (plain scores) the cover cannot be applied.
    assert choose_by_sketch(dict(scores), SITES, RoutingPolicy(selection="sketch", cover_chunks=1)) == set(SITES)


def test_cover_equals_probing_centroids_in_order_over_random_federations() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        sites = [f"s{i}" for i in range(6)]
        sketches = {}
        for site in sites:
            rows = [_unit(*rng.standard_normal(DIM)) for _ in range(int(rng.integers(1, 5)))]
            sketches[site] = _sketch(site, rows, [int(rng.integers(5, 60)) for _ in rows])
        query = _unit(*rng.standard_normal(DIM))
        cover = int(rng.integers(1, 200))
        probe = sorted(
            (
                (float(centroid @ query), size, site)
                for site, sketch in sketches.items()
                for centroid, size in zip(sketch.centroids, sketch.sizes or (), strict=True)  # type: ignore[arg-type]
            ),
            reverse=True,
        )
        expected, held = set(), 0
        for _, size, site in probe:
            expected.add(site)
            held += size
            if held >= cover:
                break
        policy = RoutingPolicy(selection="sketch", cover_chunks=cover)
        assert choose_by_sketch(score_sites(query, "v1", sketches, sites), sites, policy) == expected


def test_sites_without_a_usable_sketch_are_always_asked() -> None:
    sketches = {
        **SKETCHES,
        "old": _sketch("old", [_unit(1, 0, 0, 0)], [10], version="v0"),
        "odd": SiteSketch(site_id="odd", embedder_version="v1", chunk_count=5, centroids=np.ones((1, 3), np.float32)),
        "empty": SiteSketch(site_id="empty", embedder_version="v1", chunk_count=0),
    }
    candidates = [*SITES, "old", "odd", "empty", "unknown"]
    scores = score_sites(QUERY, "v1", sketches, candidates)
    assert set(scores) == set(SITES)
    policy = RoutingPolicy(selection="sketch", cover_chunks=1)
    assert choose_by_sketch(scores, candidates, policy) == {"a", "old", "odd", "empty", "unknown"}
    assert choose_by_sketch(score_sites(QUERY, "v1", {}, SITES), SITES, policy) == set(SITES)


def test_min_score_may_leave_no_scored_site_and_sketches_without_sizes_spread_their_count() -> None:
    scores = score_sites(QUERY, "v1", SKETCHES, SITES)
    assert _choose(scores, min_score=0.75, score_margin=1.0) == {"a", "b"}
    assert _choose(scores, min_score=0.99) == {"a"}
    unsized = {site: s.model_copy(update={"sizes": None}) for site, s in SKETCHES.items()}
    # a's 35 chunks spread over its 2 centroids: 17.5 chunks are ahead of b.
    assert score_sites(QUERY, "v1", unsized, SITES).chunks_ahead["b"] == pytest.approx(17.5)


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RoutingPolicy(score_margin=-0.1)
    with pytest.raises(ValueError):
        RoutingPolicy(cover_chunks=0)


def test_scores_of_many_sites_match_their_definition_ties_included() -> None:
    """At a hundred sites the scores come from one product and one sort; each must still be the site's
    best cosine, and its chunks ahead the sizes of every centroid strictly closer than that (a centroid
    shared by two sites is ahead of neither)."""
    rng = np.random.default_rng(7)
    shared = _unit(1, 1, 0, 0)
    sketches = {}
    for number in range(100):
        rows = [_unit(*rng.normal(size=DIM)) for _ in range(int(rng.integers(1, 17)))]
        if number % 10 == 0:
            rows.append(shared)
        sketches[f"s{number}"] = _sketch(f"s{number}", rows, [int(v) for v in rng.integers(5, 60, size=len(rows))])
    query = _unit(1, 1, 0, 0)
    scores = score_sites(query, "v1", sketches, sorted(sketches))
    cosines = {site: s.centroids @ query for site, s in sketches.items() if s.centroids is not None}
    sizes = {site: np.asarray(s.sizes, dtype=np.float64) for site, s in sketches.items()}
    for site in sketches:
        best = float(cosines[site].max())
        ahead = sum(float(sizes[other][cosines[other] > best].sum()) for other in sketches)
        assert scores[site] == pytest.approx(best, abs=1e-6)
        assert scores.chunks_ahead[site] == pytest.approx(ahead)
    tied = [site for site in sketches if scores[site] == pytest.approx(1.0, abs=1e-6)]
    assert len(tied) == 10 and all(scores.chunks_ahead[site] == 0.0 for site in tied)


def test_text_k_is_a_share_of_a_fair_share_of_the_top_k_and_only_for_several_sites() -> None:
    query = SiteQuery(question="q", embedding=np.ones(4, np.float32) / 2, k=30, embedder_version="v", mode="dense",
                      want_answer=False)  # fmt: skip
    assert with_text_k(query, 6, 1.0).text_k == 5
    assert with_text_k(query, 6, 2.0).text_k == 10
    assert with_text_k(query, 7, 1.0).text_k == 5  # rounded up: ceil(30 / 7)
    assert with_text_k(query, 100, 0.1).text_k == 1  # at least one passage with its text
    assert with_text_k(query, 1, 1.0) is query  # one site: its top k is the global one
    assert with_text_k(query, 2, 2.0) is query  # a share of k or more: nothing to leave out
    assert with_text_k(query, 6, None) is query
    wanting = query.model_copy(update={"want_answer": True})
    assert with_text_k(wanting, 6, 1.0) is wanting  # the answer path keeps every passage's text
    hybrid = query.model_copy(update={"mode": "hybrid"})
    assert with_text_k(hybrid, 6, 1.0) is hybrid


def test_the_kept_stack_scores_as_the_definition_and_skips_what_it_cannot_score() -> None:
    """``SketchScorer`` stacks the sketches once and keeps them: the same scores question after question as
    ``score_sites``, without sites of another version or dimension, until it is cleared."""
    rng = np.random.default_rng(3)
    sketches = {
        f"s{n}": _sketch(f"s{n}", [_unit(*rng.normal(size=DIM)) for _ in range(1 + n % 5)], None) for n in range(12)
    }
    sketches["old"] = _sketch("old", [_unit(1, 0, 0, 0)], None, version="v0")
    wide = np.ones((2, DIM + 1), np.float32) / np.sqrt(DIM + 1)
    sketches["wide"] = SiteSketch(site_id="wide", embedder_version="v1", chunk_count=4, centroids=wide)
    scorer, candidates = SketchScorer(), sorted(sketches)
    for _ in range(3):
        query = _unit(*rng.normal(size=DIM))
        kept = scorer.scores(query, "v1", sketches, candidates)
        assert set(kept) == set(candidates) - {"old", "wide"}
        for site in kept:
            centroids = sketches[site].centroids
            assert centroids is not None
            assert kept[site] == pytest.approx(float((centroids @ query).max()), abs=1e-6)
        assert kept.chunks_ahead == pytest.approx(score_sites(query, "v1", sketches, candidates).chunks_ahead)
    changed = {**sketches, "s0": _sketch("s0", [query], None)}
    assert scorer.scores(query, "v1", changed, candidates)["s0"] != pytest.approx(1.0)  # kept: not rebuilt yet
    scorer.clear()
    assert scorer.scores(query, "v1", changed, candidates)["s0"] == pytest.approx(1.0)
