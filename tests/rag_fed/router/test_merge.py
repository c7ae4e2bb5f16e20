"""Merging site rankings: dense by score equals one central exact index; other modes use RRF."""

from __future__ import annotations

import numpy as np
import pytest

from rag_fed.router import merge_passages
from rag_fed.types import Passage
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
