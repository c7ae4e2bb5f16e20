"""Merging site rankings: dense by score equals one central exact index; hybrid fuses global component
rankings; RRF over the sites' rankings is the fallback when scores do not compare."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag_fed.fusion import HYBRID_DEPTH, fuse_min_max
from rag_fed.protocol import Candidates
from rag_fed.router import merge_passages
from rag_fed.router.term_stats import fill_candidates
from rag_fed.types import Citation, Passage
from tests.rag_fed.router.fakes import passage

pytestmark = pytest.mark.unit


def test_dense_merge_of_per_site_top_k_equals_the_central_top_k() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    owner = rng.integers(0, 3, size=300)  # deliberately uneven: one site may hold most of the top
    k = 10
    for trial in range(20):
        query = rng.standard_normal(16).astype(np.float32)
        scores = vectors @ (query / np.linalg.norm(query))
        central = [int(i) for i in np.argsort(-scores)[:k]]
        rankings: dict[str, list[Passage]] = {}
        for site in range(3):
            ids = np.flatnonzero(owner == site)
            top = ids[np.argsort(-scores[ids])[:k]]
            rankings[f"site-{site}"] = [
                passage(f"site-{site}", int(i), float(scores[i]), rank) for rank, i in enumerate(top, start=1)
            ]
        merged = merge_passages(rankings, k, "dense")
        assert [p.chunk_id for p in merged] == central, f"trial {trial}"
        assert [p.rank for p in merged] == list(range(1, k + 1))


def test_rrf_would_not_reproduce_the_central_order() -> None:
    # Site a holds the three best chunks; RRF still puts site b's first hit second.
    rankings = {
        "a": [passage("a", 1, 0.9, 1), passage("a", 2, 0.8, 2), passage("a", 3, 0.7, 3)],
        "b": [passage("b", 4, 0.2, 1)],
    }
    assert [p.chunk_id for p in merge_passages(rankings, 3, "dense")] == [1, 2, 3]
    assert [p.chunk_id for p in merge_passages(rankings, 3, "keyword")] == [1, 4, 2]


def test_rrf_scores_replace_site_scores_in_hybrid_mode() -> None:
    rankings = {"a": [passage("a", 1, 42.0, 1)], "b": [passage("b", 1, 7.0, 1)]}
    merged = merge_passages(rankings, 5, "hybrid")
    # The same chunk id at two sites is two passages: ids are per site.
    assert [(p.citation.site_id, p.chunk_id) for p in merged] == [("a", 1), ("b", 1)]
    assert merged[0].score == pytest.approx(1 / 61)


def _hybrid_passage(site_id: str, chunk_id: int, rank: int, dense: float | None, keyword: float | None) -> Passage:
    return passage(site_id, chunk_id, 0.0, rank).model_copy(update={"dense_score": dense, "keyword_score": keyword})


def test_hybrid_merge_fuses_global_dense_and_keyword_rankings_like_a_central_index() -> None:
    rng = np.random.default_rng(11)
    cosine = rng.uniform(-1, 1, 60)
    bm25 = rng.uniform(0, 12, 60)
    owner = rng.integers(0, 3, size=60)
    # One central index over all 60 chunks: its full dense and keyword rankings, scaled and added.
    central_dense = [int(i) for i in np.argsort(-cosine)]
    central_keyword = [int(i) for i in np.argsort(-bm25)]
    scored_dense = [(i, float(cosine[i])) for i in central_dense]
    scored_keyword = [(i, float(bm25[i])) for i in central_keyword]
    central = [key for key, _ in fuse_min_max([scored_dense, scored_keyword])[:10]]
    rankings: dict[str, list[Passage]] = {}
    for site in range(3):
        ids = [i for i in central_dense if owner[i] == site]  # any site order: the merge must not depend on it
        rankings[f"site-{site}"] = [
            _hybrid_passage(f"site-{site}", i, rank, float(cosine[i]), float(bm25[i]))
            for rank, i in enumerate(ids, start=1)
        ]
    merged = merge_passages(rankings, 10, "hybrid")
    assert [p.chunk_id for p in merged] == central
    assert merged[0].score == pytest.approx(dict(fuse_min_max([scored_dense, scored_keyword]))[central[0]])


def test_hybrid_merge_does_not_interleave_a_weak_site_by_rank() -> None:
    # Site a holds the three best chunks in both components; site b's first hit is weak in both.
    rankings = {
        "a": [_hybrid_passage("a", i, i, 0.9 - i / 10, 9.0 - i) for i in (1, 2, 3)],
        "b": [_hybrid_passage("b", 4, 1, 0.1, 1.0)],
    }
    assert [p.chunk_id for p in merge_passages(rankings, 3, "hybrid")] == [1, 2, 3]
    # A passage only one component found still ranks, by that component alone: first by BM25 it scores
    # 0.5 (half of the scaled 1), below chunk 1 (dense 1, keyword 1/13 scaled) and above chunk 2 (dense
    # 0.5 scaled, last by BM25: 0) and chunk 3 (last by cosine, no BM25).
    rankings["a"][2] = _hybrid_passage("a", 3, 3, 0.6, None)
    rankings["b"] = [_hybrid_passage("b", 4, 1, None, 20.0)]
    merged = merge_passages(rankings, 4, "hybrid")
    assert [p.chunk_id for p in merged] == [1, 4, 2, 3]
    assert [p.score for p in merged] == pytest.approx([0.5 + 0.5 / 13, 0.5, 0.25, 0.0])


def test_keyword_merge_sorts_by_bm25_when_sites_send_it() -> None:
    rankings = {
        "a": [_hybrid_passage("a", 1, 1, None, 5.0), _hybrid_passage("a", 2, 2, None, 4.0)],
        "b": [_hybrid_passage("b", 3, 1, None, 1.0)],
    }
    assert [p.chunk_id for p in merge_passages(rankings, 3, "keyword")] == [1, 2, 3]


def test_passages_without_component_scores_fall_back_to_rrf_over_site_rankings() -> None:
    rankings = {
        "a": [_hybrid_passage("a", 1, 1, 0.9, 5.0), _hybrid_passage("a", 2, 2, 0.8, 4.0)],
        "b": [passage("b", 3, 0.01, 1)],  # an older site: no components
    }
    assert [p.chunk_id for p in merge_passages(rankings, 3, "hybrid")] == [1, 3, 2]


def test_hybrid_merge_scales_each_global_ranking_over_the_central_depth() -> None:
    # 240 chunks over 3 sites, every site returning all of its own: the central index cuts each ranking
    # at HYBRID_DEPTH before scaling, and so must the merge, or the scaling (and order) would differ.
    rng = np.random.default_rng(5)
    cosine, bm25, owner = rng.uniform(-1, 1, 240), rng.uniform(0, 12, 240), rng.integers(0, 3, size=240)
    scored_dense = [(int(i), float(cosine[i])) for i in np.argsort(-cosine)][:HYBRID_DEPTH]
    scored_keyword = [(int(i), float(bm25[i])) for i in np.argsort(-bm25)][:HYBRID_DEPTH]
    central = fuse_min_max([scored_dense, scored_keyword])[:20]
    rankings = {
        f"site-{site}": [
            _hybrid_passage(f"site-{site}", int(i), rank, float(cosine[i]), float(bm25[i]))
            for rank, i in enumerate((i for i in np.argsort(-cosine) if owner[i] == site), start=1)
        ]
        for site in range(3)
    }
    merged = merge_passages(rankings, 20, "hybrid")
    assert [(p.chunk_id, p.score) for p in merged] == [(key, pytest.approx(score)) for key, score in central]


def _named(site: str, doc_id: str, chunk_id: int, score: float, rank: int) -> Passage:
    item = passage(site, chunk_id, score, rank)
    return item.model_copy(update={"citation": item.citation.model_copy(update={"doc_id": doc_id})})


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_ties_are_broken_by_document_id_whatever_the_order_of_the_sites(mode: str) -> None:
    def site(name: str, docs: list[str]) -> list[Passage]:
        ranked = [_named(name, doc, n, 0.5, n) for n, doc in enumerate(docs, start=1)]
        return [p.model_copy(update={"dense_score": 0.5, "keyword_score": 2.0}) for p in ranked]

    a, b = site("a", ["z", "m"]), site("b", ["c", "q"])
    for rankings in ({"a": a, "b": b}, {"b": b, "a": a}):
        merged = merge_passages(rankings, 3, mode)  # type: ignore[arg-type]
        assert [p.citation.doc_id for p in merged] == ["c", "m", "q"], mode


def test_a_candidate_tied_at_the_cut_keeps_the_whole_tie_for_the_router() -> None:
    stub = Passage(citation=Citation(site_id="b", doc_id="", title=""), chunk_id=9, text="", score=0.0, rank=2)
    rankings = {
        "a": [_named("a", "m", 1, 0.9, 1), _named("a", "z", 2, 0.5, 2)],
        "b": [_named("b", "q", 3, 0.9, 1), stub.model_copy(update={"score": 0.5})],
    }
    merged = merge_passages(rankings, 3, "dense")
    assert [p.chunk_id for p in merged] == [1, 3, 9, 2]  # the stub's document is not known yet
    fetched = _named("b", "c", 9, 0.0, 1)

    async def fetch(site_id: str, ids: list[int]) -> list[Passage]:
        return [fetched]

    filled = asyncio.run(fill_candidates(merged, fetch, 3))
    assert [(p.citation.doc_id, p.rank) for p in filled] == [("m", 1), ("q", 2), ("c", 3)]


def test_dense_merge_with_the_losers_as_ids_and_cosines_equals_the_merge_with_their_text() -> None:
    """``SiteQuery.text_k``: each site sends the text of its best few only and the rest of its top k as
    candidates; the merge ranks those by their cosines, and once the stubs that made the top k are fetched
    the result is the merge of the full replies, passage for passage."""
    rng = np.random.default_rng(11)
    k, text_k = 10, 2
    stubbed_some = 0
    for _ in range(20):
        full: dict[str, list[Passage]] = {}
        cut: dict[str, list[Passage]] = {}
        rest: dict[str, Candidates] = {}
        for site in ("a", "b", "c"):
            scores = np.sort(rng.uniform(-1, 1, size=k))[::-1]
            full[site] = [  # as a site's dense search sends them: the cosine is the score and the dense score
                passage(site, 100 * ord(site) + i, float(s), i + 1).model_copy(update={"dense_score": float(s)})
                for i, s in enumerate(scores)
            ]
            cut[site] = full[site][:text_k]
            beyond = full[site][text_k:]
            rest[site] = Candidates.of([p.chunk_id for p in beyond], [p.score for p in beyond], [np.nan] * len(beyond))
        merged = merge_passages(cut, k, "dense", candidates=rest)
        stubbed_some += any(not p.text for p in merged)
        texts = {(p.citation.site_id, p.chunk_id): p for ranking in full.values() for p in ranking}
        filled = asyncio.run(fill_candidates(merged, _fetcher(texts), k))
        assert filled == merge_passages(full, k, "dense")
    assert stubbed_some == 20  # with two texts a site among three, every question needed a fetch


def _fetcher(texts: dict[tuple[str, int], Passage]) -> Callable[[str, list[int]], Awaitable[list[Passage]]]:
    async def fetch(site_id: str, ids: list[int]) -> list[Passage]:
        return [texts[(site_id, i)] for i in ids]

    return fetch


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.5]), max_size=12), min_size=1, max_size=8),
    st.integers(min_value=1, max_value=15),
    st.sampled_from(["dense", "keyword"]),
)
def test_the_merge_is_the_sorted_union_cut_at_k_whatever_the_ties(
    site_scores: list[list[float]], k: int, mode: str
) -> None:
    """The merge orders only the passages that can make the top k; the list is still every site's passages
    sorted by score, ties by document id, cut at k (few distinct scores: ties at the cut in most cases)."""
    rankings: dict[str, list[Passage]] = {}
    for number, scores in enumerate(site_scores):
        name = f"s{number}"
        ranked = sorted(scores, reverse=True)
        rankings[name] = [
            _named(name, f"doc-{(number * 7 + rank) % 5}", rank, score, rank).model_copy(
                update={"dense_score": score, "keyword_score": score}
            )
            for rank, score in enumerate(ranked, start=1)
        ]
    everything = [p for ranking in rankings.values() for p in ranking]
    expected = sorted(everything, key=lambda p: (-p.score, p.citation.doc_id, p.citation.site_id, p.chunk_id))[:k]
    merged = merge_passages(rankings, k, mode)  # type: ignore[arg-type]
    assert [(p.citation.site_id, p.chunk_id) for p in merged] == [(p.citation.site_id, p.chunk_id) for p in expected]
    assert [p.rank for p in merged] == list(range(1, len(expected) + 1))
